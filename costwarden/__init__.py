"""What the exporter and the receiver share: logging, secrets from the environment, reading a YAML file, the names of
the resources and labels of the metric contract, the types of the exporter's /actions API, and the scenario corpus
format (what the detection benchmark replays and the receiver's feedback export writes)."""
