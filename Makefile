# docker-alembic: every target calls the runner CLI or nox; the logic lives there.
# On a fresh clone the first target you run creates .venv and installs the runner.

.DEFAULT_GOAL := help
SHELL := /bin/bash

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
RUNNER := $(BIN)/python -m runner
NOX    := $(BIN)/nox
STAMP  := $(VENV)/.installed

# Targets that act on one project stop early, with one line, when PROJECT is missing.
PROJECT_GOALS := new revision merge upgrade downgrade plan history heads stamp log verify repair lint-revisions roundtrip
ifneq ($(filter $(PROJECT_GOALS),$(MAKECMDGOALS)),)
ifeq ($(strip $(PROJECT)$(ALL)),)
$(error PROJECT is not set: run e.g. 'make $(firstword $(filter $(PROJECT_GOALS),$(MAKECMDGOALS))) PROJECT=example' (projects are the folders under projects/))
endif
endif
ifneq ($(filter downgrade stamp,$(MAKECMDGOALS)),)
ifeq ($(strip $(REV)),)
$(error REV is not set: run e.g. 'make $(firstword $(filter downgrade stamp,$(MAKECMDGOALS))) PROJECT=$(PROJECT) REV=-1' (a revision id, -1 or base))
endif
endif
ifneq ($(filter apply,$(MAKECMDGOALS)),)
ifeq ($(strip $(PLAN)),)
$(error PLAN is not set: run e.g. 'make apply PLAN=plan.json' (made by: make plan PROJECT=x OUT=plan.json))
endif
endif
ifneq ($(filter revision,$(MAKECMDGOALS)),)
ifeq ($(strip $(MSG)),)
$(error MSG is not set: run e.g. 'make revision PROJECT=$(PROJECT) MSG="add invoice index"')
endif
endif

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

.PHONY: help bootstrap list new revision merge upgrade downgrade status plan history heads stamp apply log verify repair lint-revisions roundtrip test lint image bench clean

help: ## Show this help
	@echo "usage: make <target> [PROJECT=name] [REV=revision] [MSG=message] [SQL=1] [ALL=1] [JSON=1]"
	@echo
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  %-15s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

bootstrap: $(STAMP) ## Create .venv and install the runner (every target does this first)

list: $(STAMP) ## List projects and their database URLs
	$(RUNNER) list $(if $(JSON),--json)

new: $(STAMP) ## Create projects/PROJECT
	$(RUNNER) new $(PROJECT)

revision: $(STAMP) ## New revision: PROJECT=x MSG="..." [SQL=1 for paired .sql files]
	$(RUNNER) revision $(PROJECT) -m "$(MSG)" $(if $(SQL),--sql)

merge: $(STAMP) ## Merge the heads of PROJECT into one revision [MSG="..."]
	$(RUNNER) merge $(PROJECT) $(if $(MSG),-m "$(MSG)")

upgrade: $(STAMP) ## Apply revisions: PROJECT=x [REV=head], or ALL=1 for every project
	$(RUNNER) upgrade $(if $(ALL),--all,$(PROJECT) $(REV))

downgrade: $(STAMP) ## Revert: PROJECT=x REV=-1|<id>|base
	$(RUNNER) downgrade $(PROJECT) $(REV)

status: $(STAMP) ## Current revision, heads, pending: [PROJECT=x] (all projects without it)
	$(RUNNER) status $(PROJECT) $(if $(JSON),--json)

plan: $(STAMP) ## SQL the next upgrade would run: PROJECT=x or ALL=1 [FORMAT=markdown] [OUT=plan.json]
	$(RUNNER) plan $(if $(ALL),--all,$(PROJECT)) $(if $(JSON),--json) $(if $(FORMAT),--format $(FORMAT)) $(if $(OUT),--out $(OUT))

apply: $(STAMP) ## Run a saved plan exactly, or refuse: PLAN=plan.json
	$(RUNNER) apply $(PLAN)

history: $(STAMP) ## Revisions of PROJECT, newest first
	$(RUNNER) history $(PROJECT) $(if $(JSON),--json)

heads: $(STAMP) ## Head revision(s) of PROJECT
	$(RUNNER) heads $(PROJECT) $(if $(JSON),--json)

stamp: $(STAMP) ## Record REV as current without running it: PROJECT=x REV=...
	$(RUNNER) stamp $(PROJECT) $(REV)

log: $(STAMP) ## Change log of PROJECT: every step run, newest first
	$(RUNNER) log $(PROJECT) $(if $(JSON),--json)

verify: $(STAMP) ## Check applied revisions of PROJECT against their checksums (ALL=1: every project)
	$(RUNNER) verify $(if $(ALL),--all,$(PROJECT)) $(if $(JSON),--json)

repair: $(STAMP) ## After review: re-record checksums of PROJECT, clear a failed state (logged)
	$(RUNNER) repair $(PROJECT)

roundtrip: $(STAMP) ## Round-trip PROJECT on a throw-away database (runner test): [DB=postgresql] [ALL=1]
	$(RUNNER) test $(if $(ALL),--all,$(PROJECT)) $(if $(DB),--db $(DB)) $(if $(JSON),--json)

lint-revisions: $(STAMP) ## Review checks, offline: PROJECT=x or ALL=1 [JSON=1] [JUNIT=file] [DIALECT=postgresql]
	$(RUNNER) lint $(if $(ALL),--all,$(PROJECT)) $(if $(JSON),--json) $(if $(JUNIT),--junit $(JUNIT)) $(if $(DIALECT),--dialect $(DIALECT))

test: $(STAMP) ## Run the whole test suite (nox -s tests); ARGS="..." passes pytest options
	$(NOX) -s tests -- $(ARGS)

lint: $(STAMP) ## ruff, mypy --strict and hadolint (nox -s lint)
	$(NOX) -s lint

image: $(STAMP) ## Build the Docker image (nox -s image); ARGS="--tag docker-alembic:1.0"
	$(NOX) -s image -- $(ARGS)

bench: $(STAMP) ## Benchmarks against bare alembic and pytest-alembic (nox -s bench)
	$(NOX) -s bench

clean: ## Remove .venv, .nox and var/ (local SQLite databases!)
	rm -rf $(VENV) .nox var build
