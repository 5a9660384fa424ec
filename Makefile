# cellbench: `make test` (correctness, what CI runs) and `make bench` (timings + report).
# Both create .venv when it is missing and install the project with every extra into it.

PYTHON      ?= python3
VENV        ?= .venv
CONSTRAINTS ?= constraints.txt
PYTEST_ARGS ?=
PY          := $(VENV)/bin/python
STAMP       := $(VENV)/.installed-stamp

.PHONY: install test bench lint verify clean

$(PY):
	$(PYTHON) -m venv $(VENV)

# Re-install only when the dependency list or the pins change.
$(STAMP): pyproject.toml constraints.txt | $(PY)
	$(PY) -m pip install --progress-bar off -e ".[all]" $(if $(CONSTRAINTS),-c $(CONSTRAINTS))
	touch $@

install: $(STAMP)

test: install
	$(PY) -m pytest tests/ $(PYTEST_ARGS)

# pytest exits 5 when a suite folder holds no benchmark yet; that is not a failure of the run.
bench: install
	$(PY) -m pytest suites/ --benchmark-only $(PYTEST_ARGS) || [ $$? -eq 5 ]
	@if $(VENV)/bin/cellbench report --help >/dev/null 2>&1; then $(VENV)/bin/cellbench report; \
	else echo "cellbench report is not available yet; results are in results/"; fi

verify: install
	$(VENV)/bin/cellbench verify

lint: install
	$(VENV)/bin/ruff check cells bench tests suites

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .tox build *.egg-info
