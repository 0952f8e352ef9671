"""`costwarden-receiver`: start the intake on receiver.yml (or embedded defaults)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from aiohttp import web

from exporter.logs import setup_logging
from receiver import __version__
from receiver.app import create_app
from receiver.settings import SettingsError, load


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="costwarden-receiver",
        description="Take Alertmanager webhooks (POST /alerts) and store each notification durably before answering.",
        epilog="Secrets: COSTWARDEN_RECEIVER_BEARER_TOKEN, COSTWARDEN_RECEIVER_BASIC_PASSWORD (or *_FILE).",
    )
    parser.add_argument("--config", type=Path, help="receiver.yml (default: embedded defaults)")
    parser.add_argument("--log.level", dest="log_level", default="info", choices=["debug", "info", "warn", "error"])
    parser.add_argument("--log.format", dest="log_format", default="json", choices=["logfmt", "json"])
    parser.add_argument("--version", action="version", version=f"costwarden-receiver {__version__}")
    args = parser.parse_args(argv)
    setup_logging(args.log_level, args.log_format)
    try:
        settings = load(args.config)
    except SettingsError as exc:
        print(f"costwarden-receiver: {exc}", file=sys.stderr)
        return 2
    web.run_app(create_app(settings), host=settings.listen.host, port=settings.listen.port, print=None)
    return 0
