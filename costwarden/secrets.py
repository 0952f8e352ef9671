"""Secrets from the environment or a file named by it (a Docker secret), never from a config file; shared by the
exporter (provider and actions tokens) and the receiver (channel, auth and actions secrets)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from costwarden.catalogue import os_reason, say


class SecretFileError(Exception):
    """`<NAME>_FILE` names a file that cannot be read; the message says which variable and why."""


def env_or_file(name: str, env: Mapping[str, str]) -> str | None:
    """The variable `name` as set, or the contents of the file named by `name`_FILE without surrounding whitespace."""
    if env.get(name):
        return env[name]
    path = env.get(f"{name}_FILE")
    if path:
        try:
            return Path(path).read_text(encoding="utf-8").strip()
        except OSError as exc:
            said = say("file_errors", "cannot_read", path=f"{name}_FILE={path}", reason=os_reason(exc))
            raise SecretFileError(said) from exc
        except UnicodeDecodeError as exc:
            raise SecretFileError(say("file_errors", "not_utf8", path=f"{name}_FILE={path}", byte=exc.start)) from exc
    return None
