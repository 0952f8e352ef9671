"""The daily and weekly digest: its schedule, its facts from Prometheus, its rendering and its queueing."""
