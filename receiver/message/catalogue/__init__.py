"""The receiver's words, one catalogue per language: every table of words a message, digest, fallback summary or
prompt uses, in one YAML file per language (en.yml, zh.yml) that a translator can edit without reading code, read into
a typed `Words` (table.py) and chosen with `of(language)`."""

from __future__ import annotations

import importlib.resources
from typing import Any

import yaml
from pydantic import TypeAdapter

from receiver.message.catalogue.table import Words

LANGUAGES = ("en", "zh")


def _load(language: str) -> Words:
    """A catalogue that does not fill every table with the right types fails at import, naming the file and field."""
    text = importlib.resources.files(__package__).joinpath(f"{language}.yml").read_text(encoding="utf-8")
    raw: Any = yaml.safe_load(text)
    return TypeAdapter(Words).validate_python(raw, strict=False)


CATALOGUES = {language: _load(language) for language in LANGUAGES}


def of(language: str) -> Words:
    return CATALOGUES[language]
