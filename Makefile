# The README's commands. `make workbook` runs every notebook headless; `make test` runs the tests and nbval;
# `make test-fast` only tests/code and tests/data, in parallel (the quick loop while editing helpers/).
VENV ?= .venv
PY := $(VENV)/bin/python
PROFILE ?=
ONLY ?=
# parallel pytest workers (pytest-xdist) for tests/code and tests/data; JOBS=0 runs them in this process
JOBS ?= auto
PYTEST := $(PY) -m pytest
NBVAL := --nbval-lax --nbval-kernel-name yolo-b256 --nbval-cell-timeout 900

.PHONY: setup workbook test test-fast lab env clean

setup:
	@bash scripts/setup.sh

workbook: setup
	$(PY) -m helpers run $(if $(PROFILE),--profile $(PROFILE)) $(if $(ONLY),--only $(ONLY))

# Fast kinds first, each stage stopping the rest when it fails: units and data checks in parallel workers; then,
# one at a time (they train, start torchrun or JupyterLab and take the machine's cores), the model tests, and the
# notebook tests with nbval over every notebook.
test: test-fast
	$(PYTEST) tests/model
	$(PYTEST) tests/notebooks notebooks $(NBVAL)

test-fast: setup
	$(PYTEST) tests/code tests/data -n $(JOBS)

lab: setup
	@VENV=$(VENV) bash scripts/lab.sh

env: setup
	$(PY) -m helpers env

clean:
	rm -rf runs
