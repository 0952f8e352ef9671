"""Safe diagnostics and opt-in remediation, run by the exporter (which already sees the host's /proc and cgroups) on
the receiver's authenticated request, for the alert it is handling. See docs/actions.md.

Diagnostics are read-only and built in (no command runs). Remediation exists only when the owner writes it into
actions.yml, runs as dry-run unless `enabled: true` and the alert is severe enough, and is a fixed argument list with
the alert's labels as the only parameters, each matched in full against its allow-pattern first. Nothing here ever
runs a shell, and nothing a model writes is ever run: it can only name an action from this table.
"""
