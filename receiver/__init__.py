"""costwarden receiver: Alertmanager webhooks in, messages on people's phones out.

Read in the order an alert travels: intake.py (the webhook) → store/ (durable in SQLite before 200) → pipeline.py
(one notification at a time per alert group, resumable at every step) → facts/ (Prometheus, the host) → analysis/ (the
model, grounded, or the fallback) → message/ (render, the words of each language) → delivery/ (the ordered send queue,
the channels); digest/ sends the daily and weekly digests. app.py and cli.py wire it (services.py: what they share)."""

__version__ = "0.1.0"
