"""Readers of usage: each returns plain readings; pricing and exposition happen elsewhere."""
