"""costwarden_receiver_* metrics, on a private registry (several apps in one test process must not collide)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Metrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.received = Counter(
            "costwarden_receiver_notifications_received", "Notifications stored, by status.", ["status"], registry=r
        )
        self.duplicates = Counter(
            "costwarden_receiver_duplicates", "Notifications already stored within the window.", registry=r
        )
        self.rejected = Counter(
            "costwarden_receiver_intake_rejected", "Requests refused, by reason.", ["reason"], registry=r
        )
        self.processed = Counter(
            "costwarden_receiver_notifications_processed", "Notifications analysed, by source.", ["source"], registry=r
        )
        self.enrichment = Histogram(
            "costwarden_receiver_enrichment_duration_seconds", "Time spent asking the model, per call.",
            buckets=(0.5, 1, 2.5, 5, 10, 20, 40, 60, 90, 120, 180), registry=r,
        )  # fmt: skip
        self.fallbacks = Counter(
            "costwarden_receiver_fallbacks", "Deterministic summaries sent instead of the model's, by reason.",
            ["reason"], registry=r,
        )  # fmt: skip
        self.tokens = Counter(
            "costwarden_receiver_model_tokens", "Tokens Ollama reports: prompt (prompt_eval_count) and answer "
            "(eval_count).", ["kind"], registry=r,
        )  # fmt: skip
        self.grounding_failures = Counter(
            "costwarden_receiver_grounding_failures", "Model answers rejected by the grounding check.", registry=r
        )
        self.deliveries = Counter(
            "costwarden_receiver_deliveries",
            "Delivery attempts by channel and result: sent, retry (tried again later) or parked (given up).",
            ["channel", "result"],
            registry=r,
        )  # fmt: skip
        self.last_delivered = Gauge(
            "costwarden_receiver_last_delivered_timestamp_seconds",
            "When a part was last sent on each channel (Unix seconds); 0 until the first since start.",
            ["channel"], registry=r,
        )  # fmt: skip
        self.delivery_latency = Histogram(
            "costwarden_receiver_delivery_latency_seconds", "From queued to sent, per part, retries included.",
            ["channel"], buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 15, 60, 300, 1800, 7200, 43200), registry=r,
        )  # fmt: skip
        self.sends_waiting = Gauge("costwarden_receiver_sends_waiting", "Sends queued or in flight.", registry=r)
        self.sends_oldest = Gauge(
            "costwarden_receiver_sends_oldest_age_seconds", "Age of the oldest send not yet sent.", registry=r
        )
        self.sends_parked = Gauge(
            "costwarden_receiver_sends_parked", "Sends given up on, kept for reading.", registry=r
        )
        self.digests = Counter(
            "costwarden_receiver_digests", "Digests queued, by period (day, week), verdict and whether sent late.",
            ["period", "verdict", "late"], registry=r,
        )  # fmt: skip
        self.charts = Counter(
            "costwarden_receiver_charts", "Charts made for alerts and digests, by result: drawn, no_data (the scope "
            "has no cost series), failed (Prometheus or drawing), timeout (charts.timeout_seconds).", ["result"],
            registry=r,
        )  # fmt: skip
        self.chart_seconds = Histogram(
            "costwarden_receiver_chart_duration_seconds", "Time to draw one chart (PNG), in its worker thread.",
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10), registry=r,
        )  # fmt: skip
        self.heartbeats = Counter(
            "costwarden_receiver_heartbeats", "Watchdog repeats, by result: sent (2xx), failed, off (no URL).",
            ["result"], registry=r,
        )  # fmt: skip
        self.parked = Gauge(
            "costwarden_receiver_notifications_parked",
            "Notifications that could not be processed after processing.max_attempts tries, kept for reading.",
            registry=r,
        )
        self.writable = Gauge(
            "costwarden_receiver_outbox_writable", "1 while the outbox takes writes, 0 while it fails (disk full).",
            registry=r,
        )  # fmt: skip
        self.depth = Gauge("costwarden_receiver_outbox_depth", "Notifications not yet done.", registry=r)
        self.oldest = Gauge(
            "costwarden_receiver_outbox_oldest_age_seconds", "Age of the oldest notification not yet done.", registry=r
        )
