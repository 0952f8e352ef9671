"""`costwarden-receiver`: take Alertmanager webhooks on receiver.yml (or embedded defaults)."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
from aiohttp import web

from costwarden.logs import setup_logging
from receiver import __version__, feedback
from receiver.app import AccessLog, create_app
from receiver.datadir import DataDirError
from receiver.digest import schedule
from receiver.digest.digester import compose
from receiver.digest.schedule import Kind
from receiver.facts.prometheus import Prometheus, PrometheusError
from receiver.message.render import Message
from receiver.metrics import Metrics
from receiver.resend import resend
from receiver.sendtest import send_now, send_test
from receiver.services import open_services
from receiver.settings import SECRET_FIELDS, Settings, SettingsError, load, without_userinfo
from receiver.store.db import OutboxError
from receiver.store.outbox import Outbox

log = logging.getLogger("receiver")

EPILOG = """\
With no --config, embedded defaults apply: outbox under ./data, Prometheus at http://localhost:9090, Ollama at
http://127.0.0.1:11434 with llama3.2:3b (a deterministic summary is sent while it is absent), console channel.
Reference: docs/configuration.md; HTTP API: docs/openapi.yml.

Keep secrets out of the file; they are read from the environment: COSTWARDEN_RECEIVER_BEARER_TOKEN,
COSTWARDEN_RECEIVER_BASIC_PASSWORD, or the same names with _FILE pointing at a file holding the value.

Digests: `digest --now` sends the digest of yesterday (`--period week`: of the last seven days) at once to the
digest channels, as tomorrow morning's will look; `--dry-run` prints it instead. It does not count as the scheduled
one, which `serve` still sends at `digest.daily.at` / `digest.weekly.at`.

Feedback: `feedback export --out DIR [--days 30]` writes the pages marked Expected with the Telegram button as a
backtest corpus (one scenario per page, from Prometheus); `python -m bench.detection --corpus DIR` replays the rules.

Resend: after fixing a channel (a wrong token, a revoked webhook), `resend [--channel NAME] [--hours 24]` queues
its parked message parts again, in order, for the running receiver (`--dry-run`: list them); parts of a channel no
longer configured, or of an alert whose later message was delivered, stay parked.

Exit codes: 0 stopped cleanly (send-test, digest: every channel took the message), 1 send-test, digest: a channel
failed, 2 invalid configuration or usage."""


def describe(settings: Settings) -> dict[str, object]:
    """The settings in force, secrets masked: what --config.check prints and the start-up line logs."""
    shown = json.loads(settings.model_dump_json())
    shown["prometheus"]["url"] = without_userinfo(shown["prometheus"]["url"])
    for field in ("bearer_token", "basic_password"):
        if shown["auth"].get(field):
            shown["auth"][field] = "<secret>"
    if shown["heartbeat"].get("url"):
        shown["heartbeat"]["url"] = "<secret>"
    if shown["actions"].get("token"):
        shown["actions"]["token"] = "<secret>"  # noqa: S105 - the mask, not a secret
    for channel in shown["channels"]:
        for field in SECRET_FIELDS:
            if channel.get(field):
                channel[field] = "<secret>"
    return dict(shown)


async def digest_now(settings: Settings, kind: Kind, send: bool) -> tuple[Message, list[tuple[str, bool, str]]]:
    """The digest of the last complete period, computed as the scheduled one is, sent straight to the channels."""
    now = datetime.now(UTC)
    period = schedule.ending_on(kind, now.astimezone(settings.digest.zone).date(), settings.digest)
    async with open_services(settings, Metrics(), None) as services:
        facts, message = await compose(services, period, now.timestamp(), late=False)
        results = (
            await send_now(services, message, settings.digest_channels(), settings.ollama.language) if send else []
        )
        picture = await services.charter.digest(message, period, facts.currency) if send else None
        if picture is not None:
            results += await send_now(services, picture, settings.digest_channels(), settings.ollama.language)
    return message, results


async def export_feedback(settings: Settings, out: Path, days: int) -> list[Path]:
    """The pages marked expected as a backtest corpus, read from the outbox and Prometheus (receiver/feedback.py)."""
    outbox = Outbox(settings.outbox_path, settings.intake.dedup_window_seconds)
    await outbox.open()
    try:
        async with aiohttp.ClientSession() as session:
            now = time.time()
            return await feedback.export(outbox, Prometheus(session, settings.prometheus), out, now - days * 86400, now)
    finally:
        await outbox.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="costwarden-receiver",
        description="Take Alertmanager webhooks (POST /alerts), store each notification durably before answering, "
        "explain it with facts from Prometheus and a local model, and deliver it to the configured channels.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "command", nargs="?", default="serve", choices=["serve", "send-test", "digest", "feedback", "resend"],
        help="serve (default); send-test: a sample message through every channel, printing the answers; "
        "digest: a spend digest now (with --now or --dry-run); feedback export: the pages marked expected, as "
        "a backtest corpus; resend: parked message parts queued again once their channel is fixed",
    )  # fmt: skip
    parser.add_argument("what", nargs="?", choices=["export"], help="feedback: export (see --out)")
    parser.add_argument("--out", type=Path, help="feedback export: the corpus directory to write (one per page)")
    parser.add_argument("--days", type=int, default=30, help="feedback export: pages marked expected this recently")
    parser.add_argument("--now", action="store_true", help="digest: send it now to the digest channels")
    parser.add_argument("--dry-run", dest="dry_run", action="store_true",
                        help="digest: print it, send nothing; resend: list what would be sent again")  # fmt: skip
    parser.add_argument("--channel", help="resend: only this channel's parked parts (default: every channel's)")
    parser.add_argument("--hours", type=float, default=24.0, help="resend: parts parked this recently (default 24)")
    parser.add_argument("--period", choices=["day", "week"], default="day",
                        help="digest: yesterday (day, default) or the seven days before today (week)")  # fmt: skip
    parser.add_argument("--config", type=Path, help="receiver.yml (default: embedded defaults)")
    parser.add_argument("--config.check", dest="config_check", action="store_true",
                        help="validate the configuration, print it with secrets masked, and exit")  # fmt: skip
    parser.add_argument("--log.level", dest="log_level", default="info", choices=["debug", "info", "warn", "error"])
    parser.add_argument("--log.format", dest="log_format", default="json", choices=["logfmt", "json"])
    parser.add_argument("--version", action="version", version=f"costwarden-receiver {__version__}")
    args = parser.parse_args(argv)
    if args.what is not None and args.command != "feedback":
        parser.error(f"{args.what} belongs to feedback (feedback export --out DIR), not to {args.command}")
    setup_logging(args.log_level, args.log_format)
    try:
        settings = load(args.config)
    except SettingsError as exc:
        print(f"costwarden-receiver: {exc}", file=sys.stderr)
        return 2
    if args.config_check:
        print(json.dumps(describe(settings), indent=2, ensure_ascii=False))
        return 0
    if args.command == "feedback":
        if args.what != "export" or args.out is None:
            parser.error("feedback needs: export --out DIR")
        try:
            written = asyncio.run(export_feedback(settings, args.out, args.days))
        except (OutboxError, PrometheusError) as exc:
            print(f"costwarden-receiver: {exc}", file=sys.stderr)
            return 1
        for path in written:
            print(path)
        print(f"{len(written)} page(s) marked expected in {args.days} days written to {args.out}; replay them: "
              f"python -m bench.detection --corpus {args.out}", file=sys.stderr)  # fmt: skip
        return 0
    if args.command == "resend":
        if args.channel is not None and args.channel not in (names := [c.name for c in settings.channels]):
            print(f"costwarden-receiver: no channel named {args.channel} (configured: {', '.join(names)})",
                  file=sys.stderr)  # fmt: skip
            return 2
        try:
            lines = asyncio.run(resend(settings, args.channel, args.hours, args.dry_run))
        except OutboxError as exc:
            print(f"costwarden-receiver: {exc}", file=sys.stderr)
            return 1
        print("\n".join(lines))
        return 0
    if args.command == "digest":
        if not (args.now or args.dry_run):
            parser.error("digest needs --now (send it) or --dry-run (print it)")
        message, results = asyncio.run(digest_now(settings, args.period, send=not args.dry_run))
        if args.dry_run:
            print(message.plain())
            return 0
        for name, _, answer in results:
            print(f"{name}: {answer}")
        return 0 if all(ok for _, ok, _ in results) else 1
    if args.command == "send-test":
        results = asyncio.run(send_test(settings))
        for name, _, answer in results:
            print(f"{name}: {answer}")
        return 0 if all(ok for _, ok, _ in results) else 1
    log.info(
        "starting on %s:%d; outbox %s; prometheus %s; model %s at %s%s; channels %s",
        settings.listen.host, settings.listen.port, settings.outbox_path, without_userinfo(settings.prometheus.url),
        settings.ollama.model, settings.ollama.host, "" if settings.ollama.enabled else " (disabled)",
        ", ".join(c.name for c in settings.channels),
    )  # fmt: skip
    try:
        web.run_app(create_app(settings), host=settings.listen.host, port=settings.listen.port, print=None,
                    access_log_class=AccessLog)  # fmt: skip
    except (OutboxError, DataDirError) as exc:
        print(f"costwarden-receiver: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # binding: the port is taken, not allowed, or the address is not this host's
        print(f"costwarden-receiver: cannot listen on {settings.listen.host}:{settings.listen.port}: "
              f"{exc.strerror or exc}", file=sys.stderr)  # fmt: skip
        return 2
    return 0
