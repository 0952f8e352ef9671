"""`costwarden-receiver send-test`: one sample message through every configured channel, straight to the service
(no outbox), printing what each answered, so a bad token shows up now rather than during the first incident; then a
sample chart through every channel that shows pictures. `digest --now` sends its digest (and its chart) the same
way."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from costwarden.catalogue import cli
from receiver.analysis import fallback
from receiver.chart import Picture
from receiver.delivery.channels import Permanent, RetryLater
from receiver.facts.model import Facts, alert_facts
from receiver.intake import Webhook
from receiver.message.render import Message, render
from receiver.metrics import Metrics
from receiver.services import Services, open_services
from receiver.settings import PublicUrls, Settings

SAMPLE = {
    "version": "4", "groupKey": "costwarden-send-test", "status": "firing", "receiver": "costwarden",
    "groupLabels": {"alertname": "CostwardenSendTest"}, "commonLabels": {}, "commonAnnotations": {},
    "externalURL": "", "truncatedAlerts": 0,
    "alerts": [{
        "status": "firing",
        "labels": {"alertname": "CostwardenSendTest", "instance": "costwarden", "severity": "info"},
        "annotations": {},  # its words are receiver.message.words', in the receiver's language
        "startsAt": datetime.now(UTC).isoformat(), "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "", "fingerprint": "0000000000000000",
    }],
}  # fmt: skip


async def send_test(settings: Settings) -> list[tuple[str, bool, str]]:
    """(channel, ok, what it answered) for every configured channel."""
    hook = Webhook.model_validate(SAMPLE)
    facts = Facts(status="firing", alerts=alert_facts(hook), alerts_total=1)
    summary = fallback.summarise(facts, settings.ollama.language)
    message = render(0, hook, facts, summary, kind="message", language=settings.ollama.language,
                     model=settings.ollama.model, source="fallback", reason="disabled", urls=PublicUrls())  # fmt: skip
    async with open_services(settings, Metrics(), None) as services:
        names = [c.name for c in settings.channels]
        language = settings.ollama.language
        results = await send_now(services, message, names, language)
        picture = await services.charter.sample(message)
        return results + (await send_now(services, picture, names, language) if picture else [])


async def send_now(
    services: Services, message: Message | Picture, names: list[str], language: str
) -> list[tuple[str, bool, str]]:
    """(channel, ok, what it answered) for each of `names`, sent at once, no retries: a person is watching. A chart
    is reported as `<channel> chart`, and only where the channel shows pictures."""
    results = []
    for name in names:
        channel = services.channels[name]
        bodies = channel.picture(message) if isinstance(message, Picture) else channel.render(message)
        if isinstance(message, Picture):
            if not bodies:
                continue
            name = cli("chart_of", language, name=name)
        try:
            replies = [await channel.send(json.loads(json.dumps(body)), None) for body in bodies]
        except Permanent as exc:
            results.append((name, False, cli("refused", language, reason=exc.reason)))
        except RetryLater as exc:
            results.append((name, False, cli("would_retry", language, reason=exc.reason)))
        else:
            ids = ", ".join(r for r in replies if r)
            results.append((name, True, cli("sent_ids", language, ids=ids) if ids else cli("sent", language)))
    return results
