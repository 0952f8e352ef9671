"""The detection harness: synthetic and corpus scenarios, replay through the real Prometheus (or promtool), scoring,
and the NAB corpus reader. `python -m bench.detection` runs it as a benchmark; tests/rules and tests/grafana reuse
it."""
