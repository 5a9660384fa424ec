# cellbench: `make test` (correctness, what CI runs) and `make bench` (timings + report).
# Both create .venv when it is missing and install the project with every extra into it.

PYTHON      ?= python3
VENV        ?= .venv
CONSTRAINTS ?= constraints.txt
PYTEST_ARGS ?=
# The report's browser test (tests/test_report.py) drives Debian's Chromium; `make test` installs
# it when absent (apt-get, as root: what CI is). `make test CHROMIUM=` neither installs nor
# requires it (the browser test then skips where Chromium is absent).
CHROMIUM    ?= /usr/bin/chromium
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

$(CHROMIUM):
	@if [ "$$(id -u)" != 0 ]; then \
		echo "make test: $(CHROMIUM) is missing; install it (sudo apt-get install -y chromium)" \
		"or run make test CHROMIUM= to skip the browser test"; exit 1; fi
	DEBIAN_FRONTEND=noninteractive apt-get update -q
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium

test: install $(CHROMIUM)
	CELLBENCH_CHROMIUM=$(CHROMIUM) CELLBENCH_REQUIRE_BROWSER=$(if $(CHROMIUM),1,) \
		$(PY) -m pytest tests/ $(PYTEST_ARGS)

# pytest exits 5 when a suite folder holds no benchmark yet; that is not a failure of the run.
bench: install
	$(PY) -m pytest suites/ --benchmark-only $(PYTEST_ARGS) || [ $$? -eq 5 ]
	$(VENV)/bin/cellbench report

verify: install
	$(VENV)/bin/cellbench verify

lint: install
	$(VENV)/bin/ruff check cells bench tests suites

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .tox build *.egg-info
