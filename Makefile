# Quickstart: `make demo` (set up, run the auditor on the bundled demo lab) and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check -q
PYTEST_ARGS ?= -n 2

.PHONY: demo test test-clusters lint bench clean docs

$(PY):
	$(PYTHON) -m venv $(VENV)

# The package alone (no torch): enough to list rules and write their docs.
$(VENV)/.base-installed: pyproject.toml setup.py constraints.txt | $(PY)
	$(PIP) install -c constraints.txt -e .
	touch $@

$(VENV)/.demo-installed: pyproject.toml setup.py constraints.txt | $(PY)
	$(PIP) install -c constraints.txt -e '.[replay,plots]'
	touch $@ $(VENV)/.base-installed

$(VENV)/.dev-installed: pyproject.toml setup.py constraints.txt | $(PY)
	$(PIP) install -c constraints.txt -e '.[dev]'
	touch $@ $(VENV)/.demo-installed $(VENV)/.base-installed

demo: $(VENV)/.demo-installed
	$(PY) fixtures/demo/demo.py

# Lint, the tests, then the nightly on a real local Slurm and Ray (tests/clusters.py starts them, serially,
# and the trap stops whatever it recorded, also when a test fails; without root or the packages they skip).
test: lint
	$(PY) -m pytest $(PYTEST_ARGS) -m "not clusters"
	$(MAKE) test-clusters

test-clusters: $(VENV)/.dev-installed
	trap '$(PY) tests/clusters.py stop' EXIT; $(PY) -m pytest -p no:xdist -rs -m clusters tests/on_clusters

# ruff (configured in pyproject.toml) and the dead-code check; both fail on any finding.
lint: $(VENV)/.dev-installed
	$(PY) -m ruff check auditor rules tests benchmarks tools
	$(PY) tools/deadcode.py

docs: $(VENV)/.base-installed
	$(PY) -m auditor.rules_cli --write-docs docs/rules

bench: $(VENV)/.dev-installed
	for script in benchmarks/*.py; do $(PY) $$script || exit 1; done

clean:
	rm -rf $(VENV) build *.egg-info
