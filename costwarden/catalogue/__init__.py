"""Every word costwarden shows a person, one catalogue per language (en.yml, zh.yml) that a translator can edit without
reading code: the receiver's messages, digests and prompts (typed by receiver/message/catalogue), the config errors of
the exporter and the receiver (`config_errors`), and the command line's questions and errors (`cli`).

Read with plain YAML, not pydantic: the exporter, which stays small on a 512 MiB VPS, says its errors from here too.
"""

from __future__ import annotations

import errno
import functools
import importlib.resources
import os
from typing import Any

LANGUAGES = ("en", "zh")


@functools.cache
def tables(language: str) -> dict[str, Any]:
    """The whole catalogue of one language, read once."""
    import yaml  # only when a word is needed: an exporter that starts cleanly never reads the catalogue

    text = importlib.resources.files(__package__).joinpath(f"{language}.yml").read_text(encoding="utf-8")
    loaded: dict[str, Any] = yaml.safe_load(text)
    return loaded


def spelled(value: object) -> str | None:
    """One of LANGUAGES however a person or a locale writes it (zh_CN, zh-CN, zh_CN.UTF-8, ZH, en_US): its
    language part; None when it is none of them."""
    part = str(value or "").strip().lower().replace("-", "_").split(".")[0].split("_")[0]
    return part if part in LANGUAGES else None


def language(chosen: object = None) -> str:
    """The language to speak: `chosen` (a file's own setting, a flag) if it is one, else $COSTWARDEN_LANGUAGE, else
    Chinese under a zh_* locale, else English."""
    found = spelled(chosen) or spelled(os.environ.get("COSTWARDEN_LANGUAGE"))
    if found is None:
        locale = os.environ.get("LC_ALL") or os.environ.get("LC_MESSAGES") or os.environ.get("LANG") or ""
        found = "zh" if locale.lower().startswith("zh") else "en"
    return found


def say(table: str, key: str, chosen: object = None, **params: object) -> str:
    """One entry of a table in the chosen language (see `language`), its placeholders filled."""
    template: str = tables(language(chosen))[table][key]
    return template.format(**params)


def os_reason(exc: OSError, chosen: object = None) -> str:
    """Why the system refused, in the chosen language: the common errors by name (`os_errors`), else the system's
    own words (strerror)."""
    name = errno.errorcode.get(exc.errno or 0, "")
    known: dict[str, str] = tables(language(chosen))["os_errors"]
    return known.get(name) or str(exc.strerror or exc)


def cli(key: str, chosen: object = None, **params: object) -> str:
    """One of the command line's words (`costwarden`, `make run`, init, status, install)."""
    return say("cli", key, chosen, **params)


def duration(seconds: float, chosen: object = None) -> str:
    """1 d 3 h 20 min / 1 天 3 小时 20 分钟, in the chosen language (see `language`)."""
    u: dict[str, str] = tables(language(chosen))["units"]
    minutes = max(0, round(seconds / 60))
    days, rest = divmod(minutes, 1440)
    hours, minutes = divmod(rest, 60)
    shown = [f"{n} {unit}" for n, unit in ((days, u["d"]), (hours, u["h"]), (minutes, u["min"])) if n]
    return " ".join(shown) or f"0 {u['min']}"
