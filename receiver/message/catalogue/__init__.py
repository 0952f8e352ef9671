"""The receiver's words: its tables of the product's catalogue (costwarden/catalogue/{en,zh}.yml), read into a typed
`Words` (table.py) and chosen with `of(language)`."""

from __future__ import annotations

import dataclasses

from pydantic import TypeAdapter

from costwarden import catalogue
from receiver.message.catalogue.table import Words

LANGUAGES = catalogue.LANGUAGES


def _load(language: str) -> Words:
    """A catalogue that does not fill every table with the right types fails at import, naming the file and field."""
    raw = catalogue.tables(language)
    mine = {f.name: raw[f.name] for f in dataclasses.fields(Words) if f.name in raw}
    return TypeAdapter(Words).validate_python(mine, strict=False)


CATALOGUES = {language: _load(language) for language in LANGUAGES}


def of(language: str) -> Words:
    return CATALOGUES[language]
