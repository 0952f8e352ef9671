"""Words from facts: the local model (prompt, schema, grounding checks) and the deterministic fallback when it fails."""
