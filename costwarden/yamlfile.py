"""Reading a config file as YAML, with errors a person can act on: the file, and the line and column of a syntax
error. The exporter's pricing file and the receiver's settings both start here."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from costwarden.catalogue import os_reason, say


class YamlFileError(Exception):
    """The file cannot be read as YAML; the message names the file and where."""


class _UniqueKeys(yaml.SafeLoader):
    """YAML keeps a repeated key's last value and drops the first without a word; a config file that repeats a key
    almost always means two edits of one setting, so it is refused, said where."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._checked: set[int] = set()

    def flatten_mapping(self, node: yaml.MappingNode) -> None:
        """Each mapping's own keys, once and before `<<` merges into it (flattening changes the node in place, and
        an anchored mapping is flattened when the first alias to it is): a merged key that the mapping sets again
        is an override, as YAML means it."""
        if id(node) not in self._checked:
            self._checked.add(id(node))
            first: dict[Any, int] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                if not isinstance(key, (str, int, float, bool)):
                    continue
                if key in first:
                    problem = say("file_errors", "duplicate_key", name=key, first=first[key])
                    raise yaml.constructor.ConstructorError(None, None, problem, key_node.start_mark)
                first[key] = key_node.start_mark.line + 1
        super().flatten_mapping(node)


_NUMBERS = ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float")
_UniqueKeys.yaml_implicit_resolvers = {
    first: [(tag, pattern) for tag, pattern in resolvers if tag not in _NUMBERS]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
# YAML 1.1 reads an unquoted 15:00 as the base-60 number 900, so `at: 15:00` and `at: 900` were one number and 900
# meant 15:00. Numbers are read as YAML 1.1 reads them but for base 60 (which YAML 1.2 dropped too): 15:00 stays text.
_UniqueKeys.add_implicit_resolver(
    _NUMBERS[0],
    re.compile(r"^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+)$"),
    list("-+0123456789"),
)
_UniqueKeys.add_implicit_resolver(
    _NUMBERS[1],
    re.compile(
        r"^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9_]+(?:[eE][-+][0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    ),
    list("-+0123456789."),
)

PROBLEMS = (
    (re.compile(r"mapping values are not allowed"), "colon"),
    (re.compile(r"expected <block end>"), "indent"),
    (re.compile(r"found character '\\t'"), "tab"),
    (re.compile(r"expected ',' or '\]'"), "list"),
    (re.compile(r"expected ',' or '\}'"), "mapping"),
    (re.compile(r"found unexpected end of stream"), "quote"),
    (re.compile(r"found character '[@`]'"), "reserved"),
)
"""The YAML parser's usual complaints, by the catalogue's `yaml_problems` key that says what to do about each."""


def explained(problem: str) -> str:
    """The parser's words, with what they usually mean in the user's language before them (when we know)."""
    key = next((key for pattern, key in PROBLEMS if pattern.search(problem)), None)
    return problem if key is None else say("yaml_problems", key, problem=problem)


def read(path: Path) -> Any:
    """The file's YAML ({} when empty)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise YamlFileError(say("file_errors", "cannot_read", path=path, reason=os_reason(exc))) from exc
    except UnicodeDecodeError as exc:
        raise YamlFileError(say("file_errors", "not_utf8", path=path, byte=exc.start)) from exc
    return loads(text, str(path))


def loads(text: str, source: str) -> Any:
    """YAML text from `source` (a file, a variable) as read() reads a file: {} when empty, a repeated key refused."""
    try:
        raw = yaml.load(text, Loader=_UniqueKeys)  # noqa: S506 - a SafeLoader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = say("file_errors", "at", line=mark.line + 1, column=mark.column + 1) if mark is not None else ""
        problem = explained(str(getattr(exc, "problem", None) or exc))
        raise YamlFileError(say("file_errors", "not_yaml", path=source, where=where, problem=problem)) from exc
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


def merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """`override` over `base`: mappings merged key by key, anything else (a list, a number) replaced."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged
