"""What an alert is, as numbers: the Prometheus context, the host's diagnostics, and the facts model every later step
reads."""
