"""`costwarden status` against a real Prometheus serving a receiver's history."""

from __future__ import annotations

import time
from pathlib import Path

from stack.status import lines
from tests.support.detection.engine import import_series, serve


def test_status_sees_a_delivery_made_before_prometheus_first_scraped_the_receiver(tmp_path: Path) -> None:
    """CI's red run (stop 30): right after `make run` starts, Prometheus' first good scrape of the receiver can come
    after the demo alert was delivered; the counter's series is then born at 1 and `increase()` never sees it rise,
    so status said nothing of a channel that had delivered. Also: a receiver restarted since (its gauge back at 0)
    still shows that delivery, and a channel that never delivered is not said to have, 56 years ago."""
    now = time.time()
    delivered, restarted = now - 1200, now - 600
    scrapes = [delivered + 5 + 15 * i for i in range(78)]  # first scrape 5 s after the delivery, then every 15 s
    series = [
        ("costwarden_receiver_deliveries_total", {"channel": "file", "result": "sent"},
         [(t, 1.0 if t < restarted else 0.0) for t in scrapes]),
        ("costwarden_receiver_deliveries_total", {"channel": "file", "result": "retry"}, [(t, 0.0) for t in scrapes]),
        ("costwarden_receiver_last_delivered_timestamp_seconds", {"channel": "file"},
         [(t, delivered if t < restarted else 0.0) for t in scrapes]),
        ("costwarden_receiver_last_delivered_timestamp_seconds", {"channel": "telegram"}, [(t, 0.0) for t in scrapes]),
    ]  # fmt: skip
    import_series(series, tmp_path / "data", tmp_path)
    with serve(tmp_path / "data", tmp_path) as url:
        port = int(url.rsplit(":", 1)[1])
        said = lines({"prometheus": port, "alertmanager": port}, now)
    assert "channel file: last delivered 20 min ago" in said
    assert not [line for line in said if "telegram" in line]
