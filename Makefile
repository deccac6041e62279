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

# Values given on the command line (PROJECT=, MSG=, ...) are text, never expanded by
# make or the shell: each is copied unexpanded into DA_<NAME>, which reaches the
# recipe's shell as an environment variable and is quoted there ("$$DA_MSG"). A
# message with backticks, $(...) or $(shell ...) is stored as typed, not run. (ARGS,
# pytest's options for `make test`, are shell words on purpose: they are pasted.)
INPUTS := PROJECT REV MSG PLAN FORMAT OUT DB DIALECT JUNIT ALL SQL JSON
$(foreach v,$(INPUTS),$(eval export DA_$(v) := $$(value $(v))))
unexport $(INPUTS)

# Targets that act on one project stop early, with one line, when PROJECT is missing.
PROJECT_GOALS := new revision merge upgrade downgrade plan history heads stamp log verify repair lint-revisions roundtrip
ifneq ($(filter $(PROJECT_GOALS),$(MAKECMDGOALS)),)
ifeq ($(strip $(DA_PROJECT)$(DA_ALL)),)
$(error PROJECT is not set: run e.g. 'make $(firstword $(filter $(PROJECT_GOALS),$(MAKECMDGOALS))) PROJECT=example' (projects are the folders under projects/))
endif
endif
ifneq ($(filter downgrade stamp,$(MAKECMDGOALS)),)
ifeq ($(strip $(DA_REV)),)
$(error REV is not set: run e.g. 'make $(firstword $(filter downgrade stamp,$(MAKECMDGOALS))) PROJECT=$(DA_PROJECT) REV=-1' (a revision id, -1 or base))
endif
endif
ifneq ($(filter apply,$(MAKECMDGOALS)),)
ifeq ($(strip $(DA_PLAN)),)
$(error PLAN is not set: run e.g. 'make apply PLAN=plan.json' (made by: make plan PROJECT=x OUT=plan.json))
endif
endif
ifneq ($(filter revision,$(MAKECMDGOALS)),)
ifeq ($(strip $(DA_MSG)),)
$(error MSG is not set: run e.g. 'make revision PROJECT=$(DA_PROJECT) MSG="add invoice index"')
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
	$(RUNNER) list $(if $(DA_JSON),--json)

new: $(STAMP) ## Create projects/PROJECT
	$(RUNNER) new "$$DA_PROJECT"

revision: $(STAMP) ## New revision: PROJECT=x MSG="..." [SQL=1 for paired .sql files]
	$(RUNNER) revision "$$DA_PROJECT" -m "$$DA_MSG" $(if $(DA_SQL),--sql)

merge: $(STAMP) ## Merge the heads of PROJECT into one revision [MSG="..."]
	$(RUNNER) merge "$$DA_PROJECT" $(if $(DA_MSG),-m "$$DA_MSG")

upgrade: $(STAMP) ## Apply revisions: PROJECT=x [REV=head], or ALL=1 for every project
	$(RUNNER) upgrade $(if $(DA_ALL),--all,"$$DA_PROJECT" $(if $(DA_REV),"$$DA_REV"))

downgrade: $(STAMP) ## Revert: PROJECT=x REV=-1|<id>|base
	$(RUNNER) downgrade "$$DA_PROJECT" "$$DA_REV"

status: $(STAMP) ## Current revision, heads, pending: [PROJECT=x] (all projects without it)
	$(RUNNER) status $(if $(DA_PROJECT),"$$DA_PROJECT") $(if $(DA_JSON),--json)

plan: $(STAMP) ## SQL the next upgrade would run: PROJECT=x or ALL=1 [FORMAT=markdown] [OUT=plan.json]
	$(RUNNER) plan $(if $(DA_ALL),--all,"$$DA_PROJECT") $(if $(DA_JSON),--json) $(if $(DA_FORMAT),--format "$$DA_FORMAT") $(if $(DA_OUT),--out "$$DA_OUT")

apply: $(STAMP) ## Run a saved plan exactly, or refuse: PLAN=plan.json
	$(RUNNER) apply "$$DA_PLAN"

history: $(STAMP) ## Revisions of PROJECT, newest first
	$(RUNNER) history "$$DA_PROJECT" $(if $(DA_JSON),--json)

heads: $(STAMP) ## Head revision(s) of PROJECT
	$(RUNNER) heads "$$DA_PROJECT" $(if $(DA_JSON),--json)

stamp: $(STAMP) ## Record REV as current without running it: PROJECT=x REV=...
	$(RUNNER) stamp "$$DA_PROJECT" $$DA_REV

log: $(STAMP) ## Change log of PROJECT: every step run, newest first
	$(RUNNER) log "$$DA_PROJECT" $(if $(DA_JSON),--json)

verify: $(STAMP) ## Check applied revisions of PROJECT against their checksums (ALL=1: every project)
	$(RUNNER) verify $(if $(DA_ALL),--all,"$$DA_PROJECT") $(if $(DA_JSON),--json)

repair: $(STAMP) ## After review: re-record checksums of PROJECT, clear a failed state (logged)
	$(RUNNER) repair "$$DA_PROJECT"

roundtrip: $(STAMP) ## Round-trip PROJECT on a throw-away database (runner test): [DB=postgresql] [ALL=1]
	$(RUNNER) test $(if $(DA_ALL),--all,"$$DA_PROJECT") $(if $(DA_DB),--db "$$DA_DB") $(if $(DA_JSON),--json)

lint-revisions: $(STAMP) ## Review checks, offline: PROJECT=x or ALL=1 [JSON=1] [JUNIT=file] [DIALECT=postgresql]
	$(RUNNER) lint $(if $(DA_ALL),--all,"$$DA_PROJECT") $(if $(DA_JSON),--json) $(if $(DA_JUNIT),--junit "$$DA_JUNIT") $(if $(DA_DIALECT),--dialect "$$DA_DIALECT")

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
