"""The whole costwarden pipeline on this machine, without Docker: `make run` (and `make demo-alert`)."""
