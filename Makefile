# The README's commands. `make workbook` runs every notebook headless. `make test` runs every test not marked slow,
# in parallel workers (minutes: the loop while editing); `make test-slow` the slow ones (several processes, kills and
# resumes, every notebook exercise, the browser) and nbval over every notebook; `make check` both (what CI runs).
# `make test-fast` only tests/code and tests/data.
VENV ?= .venv
PY := $(VENV)/bin/python
PROFILE ?=
ONLY ?=
# parallel pytest workers (pytest-xdist); JOBS=0 runs the tests in this process
JOBS ?= auto
# every test run starts from a fresh, empty HOME and Ultralytics config dir of its own, as on a new machine
PYTEST := scripts/fresh_home.sh $(PY) -m pytest
NBVAL := --nbval-lax --nbval-kernel-name yolo-b256 --nbval-cell-timeout 900

.PHONY: setup workbook test test-fast test-slow check lab env clean

setup:
	@bash scripts/setup.sh

workbook: setup
	$(PY) -m helpers run $(if $(PROFILE),--profile $(PROFILE)) $(if $(ONLY),--only $(ONLY))

# Fast kinds first, each stage stopping the rest when it fails: units and data checks, then the model and notebook
# tests that are not slow. A test file stays on one worker (--dist loadfile): its module fixtures are built once.
test: test-fast
	$(PYTEST) tests/model tests/notebooks -m "not slow" -n $(JOBS) --dist loadfile

test-fast: setup
	$(PYTEST) tests/code tests/data -m "not slow" -n $(JOBS)

# The slow tests and nbval's cells (marked slow by tests/conftest.py) in one pool of workers; a notebook's cells stay
# in order on one worker and its kernel.
test-slow: setup
	$(PYTEST) tests notebooks -m slow $(NBVAL) -n $(JOBS) --dist loadfile

check: test test-slow

lab: setup
	@VENV=$(VENV) bash scripts/lab.sh

env: setup
	$(PY) -m helpers env

clean:
	rm -rf runs
