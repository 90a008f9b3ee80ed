# The README's commands. `make workbook` runs every notebook headless; `make test` runs the tests and nbval.
VENV ?= .venv
PY := $(VENV)/bin/python
PROFILE ?=
ONLY ?=

.PHONY: setup workbook test lab env clean

setup:
	@bash scripts/setup.sh

workbook: setup
	$(PY) -m helpers run $(if $(PROFILE),--profile $(PROFILE)) $(if $(ONLY),--only $(ONLY))

test: setup
	$(PY) -m pytest tests notebooks --nbval-lax --nbval-kernel-name yolo-b256 --nbval-cell-timeout 900

lab: setup
	@VENV=$(VENV) bash scripts/lab.sh

env: setup
	$(PY) -m helpers env

clean:
	rm -rf runs
