# micrograde: every target installs what it needs into its own virtual environment.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SUBMISSION ?= submissions/lecture_engine.py
NAME = $(shell n=$$(basename -- '$(SUBMISSION)'); echo "$${n%.*}")
SEED ?= 0
PROFILE ?= standard
JOBS ?= 2
PORT ?= 8000
WORKERS ?= $(JOBS)
STATE ?= micrograde-state

.PHONY: install actions test test-all test-service grade batch examples bench bench-service serve oracles demo lint clean

# $(call apt,COMMAND,PACKAGE,WHAT WITHOUT IT): install a Debian package as root where COMMAND is missing
define apt
	@command -v $(1) >/dev/null || (command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ] && \
	  (apt-get install -y -qq $(2) >/dev/null 2>&1 || \
	   (apt-get update -qq >/dev/null && apt-get install -y -qq $(2) >/dev/null)) || \
	  echo "note: $(2) not installed; $(3)")
endef

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev]'
	$(call apt,bwrap,bubblewrap,workers run with process isolation only)
	$(call apt,redis-server,redis-server,make serve needs it or --broker redis://HOST)
	$(call apt,dot,graphviz,HTML reports list graphs as tables instead of drawing them)
	$(call apt,chromium,chromium,the browser tests of the HTML report are skipped)
	@touch $(STAMP)

# the report consumers' own code (GitHub actions run under Node by tests/actions.py): checked out
# from a local mirror of GitHub or GitHub itself; where neither is reachable their tests skip
actions:
	@bash tests/fetch_actions.sh

test: install actions
	$(BIN)/python -m pytest -q -n $(JOBS) -m 'not slow and not service'

test-all: install actions
	$(BIN)/python -m pytest -q -n $(JOBS)

test-service: install actions
	$(BIN)/python -m pytest -q -m service

grade: install
	$(BIN)/micrograde grade '$(SUBMISSION)' --seed $(SEED) --profile $(PROFILE) --out 'reports/$(NAME)'

batch: install
	$(BIN)/micrograde batch $(DIR) --out reports/batch -j $(JOBS) --seed $(SEED)

# the examples submissions/examples.toml makes by an edit of another, as files to try by hand
examples: install
	$(BIN)/python -m micrograde.surfaces.examples build/examples

bench: install
	$(BIN)/python -m micrograde.surfaces.bench

# the class through the service against micrograde batch, then a deadline hour (1,000 learners in 10 min)
bench-service: install
	$(BIN)/python -m micrograde.surfaces.service.bench --workers $(WORKERS)
	$(BIN)/python -m micrograde.surfaces.service.bench --workers $(WORKERS) --deadline-hour

serve: install
	$(BIN)/micrograde serve --port $(PORT) --workers $(WORKERS) --state $(STATE)

# torch's answers for the fixed graphs and the default fuzz corpora, shipped as package data
oracles: install
	$(BIN)/python -m micrograde.surfaces.build_oracles

demo: install
	$(BIN)/python -m reference.demo

# the layer contract (pyproject's [tool.importlinter]), ruff, and the type check of the public
# API and the result model (pyproject's [tool.mypy]; harness/ seen through a link named micrograde)
lint: install
	$(BIN)/lint-imports
	$(BIN)/ruff check harness reference tests
	@mkdir -p $(VENV)/typed && ln -sfn "$(CURDIR)/harness" $(VENV)/typed/micrograde
	MYPYPATH=$(VENV)/typed $(BIN)/mypy

clean:
	rm -rf reports .pytest_cache
