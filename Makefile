# micrograde: every target installs what it needs into its own virtual environment.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SUBMISSION ?= submissions/lecture_engine.py
NAME := $(basename $(notdir $(patsubst %/,%,$(SUBMISSION))))
SEED ?= 0
PROFILE ?= standard
JOBS ?= 2

.PHONY: install test test-all grade batch bench demo lint clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev]'
	@command -v bwrap >/dev/null || (command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ] && \
	  (apt-get install -y -qq bubblewrap >/dev/null 2>&1 || \
	   (apt-get update -qq >/dev/null && apt-get install -y -qq bubblewrap >/dev/null)) || \
	  echo "note: bubblewrap not installed; workers run with process isolation only")
	@touch $(STAMP)

test: install
	$(BIN)/python -m pytest -q -n $(JOBS) -m 'not slow'

test-all: install
	$(BIN)/python -m pytest -q -n $(JOBS)

grade: install
	$(BIN)/micrograde grade '$(SUBMISSION)' --seed $(SEED) --profile $(PROFILE) --out 'reports/$(NAME)'

batch: install
	$(BIN)/micrograde batch $(DIR) --out reports/batch -j $(JOBS) --seed $(SEED)

bench: install
	$(BIN)/python -m harness.bench

demo: install
	$(BIN)/python -m reference.demo

lint: install
	$(BIN)/pip install -q ruff
	$(BIN)/ruff check harness reference tests

clean:
	rm -rf reports .pytest_cache
