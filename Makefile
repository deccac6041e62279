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
INPUTS := PROJECT REV MSG PLAN FORMAT OUT DB DIALECT JUNIT ALL SQL JSON ENV GROUP TARGET JOBS SHARD CONFIRM QUICK FROM TO SINCE
$(foreach v,$(INPUTS),$(eval export DA_$(v) := $$(value $(v))))
unexport $(INPUTS)

# Targets that act on one project stop early, with one line, when PROJECT is missing.
PROJECT_GOALS := new revision merge upgrade downgrade plan history heads current show branches stamp log verify repair lint-revisions roundtrip adopt drift diff
ifneq ($(filter $(PROJECT_GOALS),$(MAKECMDGOALS)),)
ifeq ($(strip $(DA_PROJECT)$(DA_ALL)),)
$(error PROJECT is not set: run e.g. 'make $(firstword $(filter $(PROJECT_GOALS),$(MAKECMDGOALS))) PROJECT=example' (projects are the folders under projects/))
endif
endif
ifneq ($(filter downgrade,$(MAKECMDGOALS)),)
ifeq ($(strip $(DA_REV)),)
$(error REV is not set: run e.g. 'make downgrade PROJECT=$(DA_PROJECT) REV=-1' (-1 for one step, a revision id, or base))
endif
endif
ifneq ($(filter stamp,$(MAKECMDGOALS)),)
ifeq ($(strip $(DA_REV)),)
$(error REV is not set: run e.g. 'make stamp PROJECT=$(DA_PROJECT) REV=heads' (a revision id, heads or base))
endif
endif
ifneq ($(filter show,$(MAKECMDGOALS)),)
ifeq ($(strip $(DA_REV)),)
$(error REV is not set: run e.g. 'make show PROJECT=$(DA_PROJECT) REV=head' (a revision id, head or a prefix))
endif
endif
ifneq ($(filter diff,$(MAKECMDGOALS)),)
ifeq ($(and $(strip $(DA_FROM)),$(strip $(DA_TO))),)
$(error FROM and TO are needed: run e.g. 'make diff PROJECT=$(DA_PROJECT) FROM=staging TO=prod' (two targets of the project))
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

# The runner's options that most targets take: JSON=1, and which targets of a project
# (ENV=prod, GROUP=tenants, TARGET='tenants/eu-*', JOBS=8, SHARD=2/4 or auto,
# CONFIRM=prod for a protected one).
JSON_OPT = $(if $(DA_JSON),--json)
PICK_OPT = $(if $(DA_ENV),--env "$$DA_ENV") $(if $(DA_GROUP),--group "$$DA_GROUP") $(if $(DA_TARGET),--target "$$DA_TARGET") $(if $(DA_JOBS),--jobs "$$DA_JOBS") $(if $(DA_SHARD),--shard "$$DA_SHARD")
WRITE_OPT = $(PICK_OPT) $(if $(DA_CONFIRM),--confirm "$$DA_CONFIRM")
# PROJECT=x, ALL=1 (every project), or both (every target of x).
WHICH = $(if $(DA_PROJECT),"$$DA_PROJECT") $(if $(DA_ALL),--all)

$(STAMP): pyproject.toml
	@echo "installing the runner and its development tools into $(VENV)/ (first run, or pyproject.toml changed)" >&2
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@# -qq: pip's errors only. Its warnings here are about the machine (index locations
	@# in pip.conf that do not exist) and setuptools' notes on editable installs.
	@$(BIN)/python -m pip install -qq --disable-pip-version-check --upgrade pip
	@$(BIN)/python -m pip install -qq --disable-pip-version-check -e '.[dev]'
	@echo "installed: $(BIN)/runner, $(BIN)/nox, $(BIN)/pytest" >&2
	@touch $@

.PHONY: ci help bootstrap list new revision merge upgrade downgrade status current show branches plan history heads stamp apply log verify repair adopt drift diff lint lint-revisions check-code roundtrip test image bench clean clean-db

# Recipes start with @: make prints only what the runner prints, so
# `make status PROJECT=x JSON=1 > status.json` is JSON.
help: ## Show this help
	@echo "usage: make <target> [PROJECT=name] [REV=revision] [MSG=message] [SQL=1] [ALL=1] [JSON=1]"
	@echo "       targets of a project: [ENV=prod] [GROUP=tenants] [TARGET='tenants/eu-*'] [JOBS=8] [SHARD=1/4|auto] [CONFIRM=prod]"
	@echo
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  %-15s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

bootstrap: $(STAMP) ## Create .venv and install the runner (every target does this first)

list: $(STAMP) ## List projects and their database URLs
	@$(RUNNER) list $(JSON_OPT)

new: $(STAMP) ## Create projects/PROJECT [DIALECT=postgresql: with a targets.toml]
	@$(RUNNER) new "$$DA_PROJECT" $(if $(DA_DIALECT),--dialect "$$DA_DIALECT")

revision: $(STAMP) ## New revision: PROJECT=x MSG="..." [SQL=1 for paired .sql files]
	@$(RUNNER) revision "$$DA_PROJECT" -m "$$DA_MSG" $(if $(DA_SQL),--sql)

merge: $(STAMP) ## Merge the heads of PROJECT into one revision [MSG="..."]
	@$(RUNNER) merge "$$DA_PROJECT" $(if $(DA_MSG),-m "$$DA_MSG")

upgrade: $(STAMP) ## Apply revisions: PROJECT=x [REV=head] [ENV=...|GROUP=... JOBS=N], or ALL=1 for every project
	@$(RUNNER) upgrade $(WHICH) $(if $(DA_REV),"$$DA_REV") $(WRITE_OPT) $(JSON_OPT)

downgrade: $(STAMP) ## Revert: PROJECT=x REV=-1|<id>|base
	@$(RUNNER) downgrade "$$DA_PROJECT" "$$DA_REV" $(WRITE_OPT) $(JSON_OPT)

status: $(STAMP) ## Current revision, heads, pending: [PROJECT=x] (all projects without it; ALL=1: every target)
	@$(RUNNER) status $(WHICH) $(PICK_OPT) $(JSON_OPT)

current: $(STAMP) ## The revision(s) the database of PROJECT is at
	@$(RUNNER) current "$$DA_PROJECT" $(JSON_OPT)

show: $(STAMP) ## One revision of PROJECT: REV=<id>|head [JSON=1]
	@$(RUNNER) show "$$DA_PROJECT" "$$DA_REV" $(JSON_OPT)

branches: $(STAMP) ## Branch points and branch labels of PROJECT
	@$(RUNNER) branches "$$DA_PROJECT" $(JSON_OPT)

plan: $(STAMP) ## SQL the next upgrade would run: PROJECT=x or ALL=1 [REV=...] [FORMAT=markdown] [OUT=plan.json]
	@$(RUNNER) plan $(WHICH) $(if $(DA_REV),"$$DA_REV") $(PICK_OPT) $(JSON_OPT) $(if $(DA_FORMAT),--format "$$DA_FORMAT") $(if $(DA_OUT),--out "$$DA_OUT")

apply: $(STAMP) ## Run a saved plan exactly, or refuse: PLAN=plan.json
	@$(RUNNER) apply "$$DA_PLAN" $(if $(DA_JOBS),--jobs "$$DA_JOBS") $(if $(DA_CONFIRM),--confirm "$$DA_CONFIRM") $(JSON_OPT)

history: $(STAMP) ## Revisions of PROJECT, newest first, the applied ones marked
	@$(RUNNER) history "$$DA_PROJECT" $(JSON_OPT)

heads: $(STAMP) ## Head revision(s) of PROJECT
	@$(RUNNER) heads "$$DA_PROJECT" $(JSON_OPT)

stamp: $(STAMP) ## Record REV as current without running it: PROJECT=x REV=<id>|heads|base
	@$(RUNNER) stamp "$$DA_PROJECT" $$DA_REV $(WRITE_OPT) $(JSON_OPT)

log: $(STAMP) ## Change log of PROJECT: every step run, newest first
	@$(RUNNER) log "$$DA_PROJECT" $(PICK_OPT) $(JSON_OPT)

verify: $(STAMP) ## Check applied revisions of PROJECT against their checksums (ALL=1: every project)
	@$(RUNNER) verify $(WHICH) $(PICK_OPT) $(JSON_OPT)

repair: $(STAMP) ## After review: re-record checksums of PROJECT, clear a failed state (logged)
	@$(RUNNER) repair "$$DA_PROJECT" $(WRITE_OPT) $(JSON_OPT)

adopt: $(STAMP) ## Capture PROJECT's live database as its baseline revision and stamp it: [ENV=...|TARGET=...] [SQL=1] [MSG="..."]
	@$(RUNNER) adopt "$$DA_PROJECT" $(WRITE_OPT) $(if $(DA_SQL),--sql) $(if $(DA_MSG),-m "$$DA_MSG") $(JSON_OPT)

drift: $(STAMP) ## Schema changes made outside the migrations: PROJECT=x or ALL=1 [ENV=...|GROUP=...] [QUICK=1] [FORMAT=codeclimate] [JUNIT=file]
	@$(RUNNER) drift $(WHICH) $(PICK_OPT) $(if $(DA_QUICK),--quick) $(if $(DA_FORMAT),--format "$$DA_FORMAT") $(if $(DA_JUNIT),--junit "$$DA_JUNIT") $(JSON_OPT)

diff: $(STAMP) ## Schema differences between two targets of PROJECT: FROM=staging TO=prod [JSON=1]
	@$(RUNNER) diff "$$DA_PROJECT" --from "$$DA_FROM" --to "$$DA_TO" $(JSON_OPT)

ci: $(STAMP) ## The projects a change touches (runner ci changed): [SINCE=main] [JSON=1]; OUT=file also writes the GitLab child pipeline there
	@$(RUNNER) ci changed $(if $(DA_SINCE),--since "$$DA_SINCE") $(JSON_OPT)
	@$(if $(DA_OUT),$(RUNNER) ci gitlab $(if $(DA_SINCE),--since "$$DA_SINCE") --out "$$DA_OUT")

roundtrip: $(STAMP) ## Round-trip PROJECT on a throw-away database (runner test): [DB=postgresql] [ALL=1]
	@$(RUNNER) test $(if $(DA_ALL),--all,"$$DA_PROJECT") $(if $(DA_DB),--db "$$DA_DB") $(JSON_OPT)

# `make lint PROJECT=x` reviews revisions, as a DBA expects. Without PROJECT or ALL it
# still checks this repository's code, for one release: that is `make check-code` now.
lint: $(STAMP) ## Review checks of revisions, offline: PROJECT=x or ALL=1 [JSON=1] [JUNIT=file] [DIALECT=postgresql]
ifeq ($(strip $(DA_PROJECT)$(DA_ALL)),)
	@echo "make lint without PROJECT checks the repository's code: use make check-code (make lint PROJECT=x reviews revisions)" >&2
	@$(NOX) -s lint
else
	@$(RUNNER) lint $(if $(DA_ALL),--all,"$$DA_PROJECT") $(JSON_OPT) $(if $(DA_JUNIT),--junit "$$DA_JUNIT") $(if $(DA_DIALECT),--dialect "$$DA_DIALECT")
endif

lint-revisions: $(STAMP) ## Same as make lint PROJECT=x (the old name, kept for one release)
	@$(RUNNER) lint $(if $(DA_ALL),--all,"$$DA_PROJECT") $(JSON_OPT) $(if $(DA_JUNIT),--junit "$$DA_JUNIT") $(if $(DA_DIALECT),--dialect "$$DA_DIALECT")

check-code: $(STAMP) ## This repository's own code: ruff, mypy --strict, hadolint (nox -s lint)
	@$(NOX) -s lint

test: $(STAMP) ## Run the whole test suite (nox -s tests); ARGS="..." passes pytest options
	@$(NOX) -s tests -- $(ARGS)

image: $(STAMP) ## Build the Docker image (nox -s image); ARGS="--tag docker-alembic:1.0"
	@$(NOX) -s image -- $(ARGS)

bench: $(STAMP) ## Benchmarks against bare alembic and pytest-alembic (nox -s bench)
	@$(NOX) -s bench

clean: ## Remove .venv, .nox and build/ (the local databases in var/ stay)
	rm -rf $(VENV) .nox build

clean-db: ## Delete var/: every local SQLite database and its lock file
	rm -rf var
