"""What the tests and the benchmarks share: fakes of the peers that cannot run here, the real-Prometheus
harness and the detection corpus, free ports, fixture readers. bench/ imports from here; nothing here imports bench/."""
