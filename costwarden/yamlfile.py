"""Reading a config file as YAML, with errors a person can act on: the file, and the line and column of a syntax
error. The exporter's pricing file and the receiver's settings both start here."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from costwarden.catalogue import say


class YamlFileError(Exception):
    """The file cannot be read as YAML; the message names the file and where."""


def read(path: Path) -> Any:
    """The file's YAML ({} when empty)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise YamlFileError(say("file_errors", "cannot_read", path=path, reason=exc.strerror or exc)) from exc
    except UnicodeDecodeError as exc:
        raise YamlFileError(say("file_errors", "not_utf8", path=path, byte=exc.start)) from exc
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = say("file_errors", "at", line=mark.line + 1, column=mark.column + 1) if mark is not None else ""
        problem = getattr(exc, "problem", exc)
        raise YamlFileError(say("file_errors", "not_yaml", path=path, where=where, problem=problem)) from exc
    return {} if raw is None else raw


def line_of(text: str, dotted: str) -> int | None:
    """The line (1-based) where the dotted field is written, for errors an editor can jump to: where the nearest part
    of it that is written is (a missing field: its mapping's line); None when nothing of it is in the file."""
    try:
        node = yaml.compose(text)
    except yaml.YAMLError:
        return None
    line = None
    for part in re.findall(r"[^.\[\]]+", dotted):
        if isinstance(node, yaml.MappingNode):
            match = next(((k, v) for k, v in node.value if str(k.value) == part), None)
            if match is None:
                return line
            line, node = match[0].start_mark.line + 1, match[1]
        elif isinstance(node, yaml.SequenceNode) and part.isdigit() and int(part) < len(node.value):
            node = node.value[int(part)]
            line = node.start_mark.line + 1
        else:
            return line
    return line
