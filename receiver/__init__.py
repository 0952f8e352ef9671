"""costwarden receiver: durable Alertmanager intake; analysis and delivery build on its outbox."""

__version__ = "0.1.0"
