"""The durable state (SQLite): notifications, their sends, digests, the audit trail and the analysis cache."""
