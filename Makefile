# Everything a fresh Linux machine needs is installed by these targets into .venv.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: test test-slow lint demo clean peer-test bench

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $(STAMP)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports

test: lint
	$(PY) -m pytest -m "not slow" --durations=20

demo: $(STAMP)
	$(VENV)/bin/salt-immutable demo --dir .demo-lab

test-slow: $(STAMP)
	$(PY) -m pytest -m slow

# linode_api4's own integration tests (instances, images, volumes, NodeBalancers, firewalls, tags,
# regions, errors) against the emulator; tools/peer_test_deselect.txt lists what is out of scope.
peer-test: $(STAMP)
	$(PY) tools/peer_test.py

# Benchmarks (not part of make test): writes bench/results/latest.json and latest.md; the bake figure
# waits for /tmp/si-integration.lock (see bench/README.md).
bench: $(STAMP)
	$(PY) -m bench.run

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .ruff_cache .demo-lab
