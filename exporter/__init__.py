"""costwarden exporter: turns what a host and its containers consume into money, as Prometheus metrics."""

__version__ = "0.1.0"
