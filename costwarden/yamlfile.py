"""Reading a config file as YAML, with errors a person can act on: the file, and the line and column of a syntax
error. The exporter's pricing file and the receiver's settings both start here."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


class YamlFileError(Exception):
    """The file cannot be read as YAML; the message names the file and where."""


def read(path: Path) -> Any:
    """The file's YAML ({} when empty)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise YamlFileError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise YamlFileError(f"{path}: not UTF-8 text (byte {exc.start})") from exc
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise YamlFileError(f"{path}: not valid YAML{where}: {getattr(exc, 'problem', exc)}") from exc
    return {} if raw is None else raw
