"""Buttons under a firing alert on Telegram: silence it for 1 h or 24 h, acknowledge it, mark it expected, undo the
silence, and run a remediation actions.yml lets a person run (`button: true`) after a confirmation tap — from a
phone, without opening a port.

The receiver long-polls the Bot API's `getUpdates` for button taps (callback queries), so no public URL is needed.
A tap acts only from a configured Telegram channel's own chat (and, if `buttons.allowed_users` is set, only by those
users); everything — refused, stale, done — is written to the outbox's audit trail. A silence is made through
Alertmanager's API v2 with the alert group's labels as matchers and the tapping user as `createdBy`. The same button
tapped twice acts once (the audit says it was done, and by whom); a button of an alert that has resolved since says
so instead of acting. The message's buttons are then replaced by a line saying who did what, until when.

*Run <action>* (`r<n>`: the n-th remediation of the alert's facts) asks first: its buttons become *Confirm* (`c<n>`)
and *Cancel* (`x`). A confirmed run goes to the exporter with the tapping person as `confirmed_by`; the exporter
alone decides whether it may run (its label patterns and `min_severity` hold). It is started once: a run recorded as
started or done for the notification is never started again, even after a restart between the tap and its answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp

from costwarden.actions import Outcome
from receiver.delivery.channels.chat import keyboard, two_a_row
from receiver.facts.host import ExporterActions
from receiver.facts.model import Facts
from receiver.intake import parse_webhook
from receiver.message import catalogue
from receiver.message.render import BUTTONS, offered
from receiver.settings import Settings, TelegramChannel
from receiver.store import audit, notifications
from receiver.store.db import OutboxError
from receiver.store.outbox import Outbox

log = logging.getLogger("receiver.buttons")

SILENCES = {"s1h": 3600.0, "s24h": 86400.0}
ASKED_SECONDS = 600.0
"""A confirmation counts only after *Run* was tapped (and answered with the Confirm button) this recently."""
RETRY_SECONDS = 5.0
"""After a failed poll (the Bot API down, a bad answer), wait this long before the next, not in a loop."""
MIN_POLL_SECONDS = 1.0
"""The shortest time between two getUpdates that brought nothing new: the Bot API holds a poll for its timeout, a
proxy that answers at once (or ignores the offset) would otherwise be asked thousands of times a minute."""
CONFLICT_SECONDS = 300.0
"""A webhook set on the bot (409): someone else takes its updates; look again this rarely."""


@dataclass(frozen=True)
class Tap:
    callback_id: str
    action: str
    note: int
    chat_id: str
    message_id: int | None
    user_id: int
    who: str
    via: str = ""
    """Where the tap came from, for the audit and the silence's createdBy: `telegram <user id>` unless said."""

    @property
    def by(self) -> str:
        return f"{self.who} ({self.via or f'telegram {self.user_id}'})"


DATA = re.compile(r"cw:([a-z0-9]{1,16}):([0-9]{1,18})", re.ASCII)
RUN = re.compile(r"([rc])(0|[1-9][0-9]?)", re.ASCII)
"""*Run* the n-th remediation of the facts (it asks first), or *Confirm* it."""


def parse(update: dict[str, Any]) -> Tap | None:
    """A button tap of ours (`cw:<action>:<notification>`), or None for anything else."""
    query = update.get("callback_query")
    if not isinstance(query, dict):
        return None
    data = DATA.fullmatch(str(query.get("data", "")))
    if data is None:
        return None
    message: dict[str, Any] = query["message"] if isinstance(query.get("message"), dict) else {}
    person: dict[str, Any] = query["from"] if isinstance(query.get("from"), dict) else {}
    name = person.get("username")
    # A first name is free text: without "@" and brackets it cannot pass for another person's "@name (telegram id)".
    who = f"@{name}" if name else re.sub(r"[@()]", "", str(person.get("first_name") or person.get("id", "?"))) or "?"
    return Tap(callback_id=str(query.get("id", "")), action=data.group(1), note=int(data.group(2)),
               chat_id=str((message.get("chat") or {}).get("id", "")), message_id=message.get("message_id"),
               user_id=person["id"] if isinstance(person.get("id"), int) else 0, who=who[:64])  # fmt: skip


class BotError(Exception):
    def __init__(self, status: int, description: str) -> None:
        super().__init__(f"{status}: {description}")
        self.status = status


class Buttons:
    def __init__(
        self, settings: Settings, outbox: Outbox, session: aiohttp.ClientSession,
        actions: ExporterActions | None = None,
    ) -> None:  # fmt: skip
        self._cfg = settings.buttons
        self._actions = actions
        self._am = (settings.buttons.alertmanager_api or "").rstrip("/")
        self._language = settings.ollama.language
        self._outbox = outbox
        self._session = session
        telegram = [c for c in settings.channels if isinstance(c, TelegramChannel)]
        self._chats = {str(c.chat_id) for c in telegram}
        for c in telegram:
            if not re.fullmatch(r"-?[0-9]+", str(c.chat_id)):  # taps carry the numeric id only
                log.warning("channel %s: chat_id %s is a name; its buttons answer only with the numeric chat id "
                            "(costwarden init finds it)", c.name, c.chat_id)  # fmt: skip
        self._bots = {(c.api_url.rstrip("/"), c.bot_token) for c in telegram}
        self._acting = asyncio.Lock()
        """One action at a time (taps of several bots, signed links arriving together): each sees the last one done."""
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        for n, bot in enumerate(sorted(self._bots)):
            self._tasks.append(asyncio.create_task(self._poll(*bot), name=f"receiver-buttons-{n}"))
        if self._tasks:
            log.info("answering Telegram buttons; silences through %s", self._am)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            try:
                await task
            except asyncio.CancelledError:
                pass
            except Exception:  # a poller that died must not keep the rest of the receiver from stopping
                log.exception("the Telegram buttons stopped with an error")

    async def _poll(self, api: str, token: str) -> None:
        offset = 0
        while True:
            asked = time.monotonic()
            try:
                updates = await self._bot(api, token, "getUpdates", {
                    "offset": offset, "timeout": self._cfg.poll_timeout_seconds,
                    "allowed_updates": ["callback_query"]}, self._cfg.poll_timeout_seconds + 10)  # fmt: skip
            except BotError as exc:  # 409 is a webhook on the bot, or another getUpdates (costwarden init) for a moment
                wait = CONFLICT_SECONDS if exc.status == 409 and "webhook" in str(exc) else RETRY_SECONDS
                log.warning("Telegram getUpdates failed (%s); buttons answered again in %.0f s", exc, wait)
                await asyncio.sleep(wait)
                continue
            except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
                log.warning("Telegram getUpdates failed (%r); buttons answered again in %.0f s", exc, RETRY_SECONDS)
                await asyncio.sleep(RETRY_SECONDS)
                continue
            if not isinstance(updates, list):  # a proxy in front of the Bot API that answers something else
                log.warning("Telegram getUpdates answered a result that is not a list of updates (%s); buttons "
                            "answered again in %.0f s", type(updates).__name__, RETRY_SECONDS)  # fmt: skip
                await asyncio.sleep(RETRY_SECONDS)
                continue
            before = offset
            for update in updates:
                if not isinstance(update, dict):
                    continue
                if isinstance(update.get("update_id"), int):
                    offset = max(offset, update["update_id"] + 1)
                try:
                    tap = parse(update)
                    if tap is None:
                        continue
                    await self.handle(api, token, tap)
                except (aiohttp.ClientError, TimeoutError, BotError, OutboxError, ValueError) as exc:
                    log.warning("a button tap was not answered: %r", exc)
                except Exception:  # one bad tap must not end the buttons for good
                    log.exception("a button tap failed")
            if offset == before:  # nothing new: a long poll that came back at once is asked again a second later
                await asyncio.sleep(max(0.0, MIN_POLL_SECONDS - (time.monotonic() - asked)))

    async def handle(self, api: str, token: str, tap: Tap) -> str:
        """Act on one tap and answer it; returns the answer shown to the person."""
        words = catalogue.of(self._language).labels
        async with self._acting:
            answer, rows = await self._act(tap, words)
        with contextlib.suppress(BotError):  # a tap answered late (a restart) is "query is too old": nothing lost
            await self._bot(api, token, "answerCallbackQuery", {"callback_query_id": tap.callback_id,
                                                                "text": answer[:200]})  # fmt: skip
        if rows is not None and tap.message_id is not None:
            await self._bot(api, token, "editMessageReplyMarkup", {
                "chat_id": tap.chat_id, "message_id": tap.message_id, "reply_markup": keyboard(rows)})  # fmt: skip
        return answer

    async def from_link(self, note: int, action: str, remote: str) -> str:
        """A signed link's confirmed action (receiver/links: the signature is its permission); the answer to show.
        `remote`: the address it came from, for the audit (a proxy's, unless it says whom it forwards)."""
        words = catalogue.of(self._language).labels
        tap = Tap("", action, note, "", None, 0, words["signed_link"], via=f"receiver_url, from {remote}")
        async with self._acting:
            answer, _ = await self._act(tap, words, trusted=True)
        return answer

    async def _act(
        self, tap: Tap, words: dict[str, str], trusted: bool = False
    ) -> tuple[str, list[list[tuple[str, str]]] | None]:
        """The answer, and the buttons the message shows afterwards (None: leave them). `trusted`: a signed link,
        not a chat to check against the allow list."""
        name = f"button:{tap.action}"
        note = await self._outbox.read(notifications.find, tap.note)
        group = note.group_key if note is not None else ""
        allowed = trusted or (
            tap.chat_id in self._chats and (not self._cfg.allowed_users or tap.user_id in self._cfg.allowed_users)
        )
        if tap.action == "noop":
            return "", None
        if not allowed:
            log.warning("button %s refused: chat %s, user %d are not allowed", tap.action, tap.chat_id, tap.user_id)
            await self._audit(
                tap,
                group,
                Outcome(name, "button", "refused", reason=f"chat {tap.chat_id}, user {tap.user_id} not allowed"),
            )
            return words["answer_refused"], None
        if note is not None and (tap.action == "x" or RUN.fullmatch(tap.action)):
            return await self._run(tap, note, group, words)
        if note is None or tap.action not in (*BUTTONS, "u"):
            return words["answer_unknown"], None
        steps = [r for r in await self._outbox.read(audit.history, tap.note, "button") if r.state == "done"]
        last_undo = max((i for i, r in enumerate(steps) if r.action == "button:u"), default=-1)
        silenced = [r for r in steps[last_undo + 1 :] if r.action.removeprefix("button:") in SILENCES]
        if tap.action in SILENCES:
            earlier = silenced[-1] if silenced else None  # a silence is on until Unsilence: one at a time
        elif tap.action == "u":
            earlier = None if silenced else (steps[last_undo] if last_undo >= 0 else None)
        else:
            earlier = next((r for r in steps if r.action == name), None)
        if earlier is not None:
            return words["answer_again"].format(who=earlier.reason.partition(" (")[0]), None
        if tap.action != "u" and await self._outbox.read(notifications.resolved_after, group, tap.note):
            await self._audit(tap, group, Outcome(name, "button", "stale", reason=f"{tap.who} after the resolution"))
            return words["answer_resolved"], []
        silence = ""
        until = datetime.now(UTC)
        try:
            if tap.action in SILENCES:
                until += timedelta(seconds=SILENCES[tap.action])
                silence = await self._silence(note, tap, until)
            elif tap.action == "u":
                for row in silenced:
                    await self._unsilence(row.output)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            await self._audit(tap, group, Outcome(name, "button", "failed", reason=f"{tap.who}: {exc}"[:300]))
            return words["answer_failed"].format(error=str(exc)[:120]), None
        await self._audit(tap, group, Outcome(name, "button", "done", output=silence,
                                              reason=tap.by))  # fmt: skip
        line = words[f"done_{'unsilence' if tap.action == 'u' else tap.action}"].format(
            who=tap.who, until=until.strftime("%Y-%m-%d %H:%M")
        )
        status = [(line, f"cw:noop:{tap.note}")]
        if tap.action in SILENCES:
            return words["answer_done"], [status, [(words["button_unsilence"], f"cw:u:{tap.note}")]]
        offered = [a for a in BUTTONS if a in SILENCES] if tap.action in ("ack", "expected") else list(BUTTONS)
        return words["answer_done"], [status, [(words[f"button_{a}"], f"cw:{a}:{tap.note}") for a in offered]]

    async def _run(
        self, tap: Tap, note: notifications.Work, group: str, words: dict[str, str]
    ) -> tuple[str, list[list[tuple[str, str]]] | None]:
        """*Run <action>* (ask), *Confirm* (run it, once) or *Cancel* (the buttons as they were)."""
        stored = await self._outbox.read(notifications.facts_of, tap.note)
        facts = Facts.model_validate_json(stored) if stored else None
        if facts is None:
            return words["answer_unknown"], None
        if tap.action == "x":
            return words["button_cancel"], self._rows(facts, tap.note)
        matched = RUN.fullmatch(tap.action)
        if matched is None:
            return words["answer_unknown"], None
        step, index = matched.groups()
        action = facts.actions[int(index)] if int(index) < len(facts.actions) else None
        if action is None or not action.button or action.state != "dry_run":  # only what the message offered
            return words["answer_unknown"], None
        if self._actions is None:
            return words["answer_no_actions"], None
        if not self._cfg.allowed_users:  # a host command: never "anyone in the chat"
            return words["answer_run_users"], None
        confirm, asked = f"button:c{index}", f"button:r{index}"
        history = await self._outbox.read(audit.history, tap.note, "button")
        earlier = [r for r in history if r.action == confirm and r.state in ("started", "done")]
        if earlier:
            return words["answer_again"].format(who=earlier[0].reason.partition(" (")[0]), None
        if await self._outbox.read(notifications.resolved_after, group, tap.note):
            await self._audit(tap, group, Outcome(f"button:{tap.action}", "button", "stale",
                                                  reason=f"{tap.who} after the resolution"))  # fmt: skip
            return words["answer_resolved"], []
        if step == "r":
            await self._audit(tap, group, Outcome(asked, "button", "asked", reason=tap.by, output=str(time.time())))
            return words["answer_confirm"].format(name=action.name), [[
                (words["button_confirm"].format(name=action.name), f"cw:c{index}:{tap.note}"),
                (words["button_cancel"], f"cw:x:{tap.note}")]]  # fmt: skip
        who = tap.by
        recent = [r for r in history if r.action == asked and r.state == "asked" and r.reason == who
                  and time.time() - float(r.output or 0) < ASKED_SECONDS]  # fmt: skip
        if not recent:  # a confirmation nobody was asked for (forged callback data): nothing runs
            await self._audit(tap, group, Outcome(confirm, "button", "refused", reason=f"{who}: not asked first"))
            return words["answer_unknown"], None
        await self._audit(tap, group, Outcome(confirm, "button", "started", reason=who))  # before: never twice
        outcome = await self._actions.run_confirmed(tap.note, parse_webhook(note.payload), action.name, who)
        await self._audit(tap, group, Outcome(confirm, "button", "done", output=outcome.state, reason=who))
        result = catalogue.of(self._language).action_states.get(outcome.state, "{reason}").format(
            command=" ".join(outcome.argv), reason=outcome.reason or outcome.state)  # fmt: skip
        line = words["done_run"].format(name=action.name, who=tap.who, state=result)[:120]
        return words["answer_done"], [[(line, f"cw:noop:{tap.note}")], *self._rows(facts, tap.note, ran=f"r{index}")]

    def _rows(self, facts: Facts, note: int, ran: str = "") -> list[list[tuple[str, str]]]:
        """The alert's buttons as the message first showed them (two a row), less a run already done."""
        runs = bool(self._cfg.allowed_users)
        return two_a_row([(label, f"cw:{a}:{note}") for label, a in offered(facts, self._language, runs) if a != ran])

    async def _silence(self, note: notifications.Work, tap: Tap, until: datetime) -> str:
        hook = parse_webhook(note.payload)
        labels = hook.groupLabels or hook.alerts[0].labels
        body = {
            "matchers": [{"name": k, "value": v, "isRegex": False, "isEqual": True} for k, v in sorted(labels.items())],
            "startsAt": datetime.now(UTC).isoformat(), "endsAt": until.isoformat(),
            "createdBy": tap.by,
            "comment": f"from {'Telegram' if tap.user_id else 'a signed link'}, costwarden notification {tap.note}",
        }  # fmt: skip
        async with self._session.post(f"{self._am}/api/v2/silences", json=body,
                                      timeout=aiohttp.ClientTimeout(total=10)) as answer:  # fmt: skip
            text = await answer.text()
            if answer.status != 200:
                raise ValueError(f"Alertmanager answered HTTP {answer.status}: {text[:200]}")
            silence = json.loads(text).get("silenceID") if text.startswith("{") else None
            if not silence:
                raise ValueError(f"Alertmanager answered without a silence id: {text[:200]}")
            return str(silence)

    async def _unsilence(self, silence: str) -> None:
        async with self._session.delete(f"{self._am}/api/v2/silence/{silence}",
                                        timeout=aiohttp.ClientTimeout(total=10)) as answer:  # fmt: skip
            text = await answer.text()
            if answer.status != 200 and "not found" not in text:  # gone already (0.25 says so with a 500)
                raise ValueError(f"Alertmanager answered HTTP {answer.status}: {text[:200]}")

    async def _audit(self, tap: Tap, group: str, row: Outcome) -> None:
        try:
            await self._outbox.write(audit.record, tap.note, group, row, time.time())
        except OutboxError as exc:
            log.error("cannot record button %s: %s", tap.action, exc)

    async def _bot(self, api: str, token: str, method: str, body: dict[str, Any], timeout: float = 10.0) -> Any:
        async with self._session.post(f"{api}/bot{token}/{method}", json=body,
                                      timeout=aiohttp.ClientTimeout(total=timeout)) as answer:  # fmt: skip
            document = json.loads(await answer.text())
        if not isinstance(document, dict) or not document.get("ok"):
            description = str(document.get("description", "")) if isinstance(document, dict) else ""
            raise BotError(answer.status, description[:200])
        return document.get("result")
