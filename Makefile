# The two commands a new user needs: `make setup` then `make test`.
SHELL := /bin/bash
.ONESHELL:
.SHELLFLAGS := -euo pipefail -c

ROOT := $(CURDIR)
export PATH := $(ROOT)/.tools/bin:$(ROOT)/.venv/bin:$(PATH)
# Local file backend: state never leaves the machine.
export PULUMI_BACKEND_URL ?= file://$(ROOT)/.pulumi-state
export PULUMI_SKIP_UPDATE_CHECK := true
export PULUMI_DIY_BACKEND_NO_LEGACY_WARNING := true

PY := $(ROOT)/.venv/bin/python
STACK ?= dev

.PHONY: setup test lint unit integration preview policy-gate docs up down clean bench

setup:  ## build/install everything the project needs (idempotent, cached under ~/.cache/paif)
	bash toolchain/setup.sh

lint:  ## ruff + mypy (strict on components/, infra/, policy/, ops/)
	$(PY) -m ruff check .
	$(PY) -m mypy app components infra policy localenv ops tests

unit:  ## fast tests: Pulumi mocks, config corpus, policy rule functions
	$(PY) -m pytest tests/unit tests/policy -m "not integration" -q

integration:  ## real engine against vcsim, PostgreSQL and kube-apiserver
	$(PY) -m pytest tests/integration tests/policy -m integration -q

test: lint  ## the README's test command: lint, type-check, every test
	$(PY) -m pytest -q -p no:cacheprovider --durations=25

preview:  ## real-engine preview of STACK (local|dev|prod) with the stack's policy config
	$(PY) -m policy.gate $(STACK)

policy-gate:  ## the pull-request gate: preview dev and prod with the policy pack
	$(PY) -m policy.gate dev prod

bench:  ## preview/refresh scaling benchmark: N = 1, 5, 20, 50 apps vs floors, before/after the fixes (bench/README.md; about an hour on 2 shared cores)
	$(PY) -m bench $(BENCH_ARGS)

docs:  ## regenerate the README's config-key table from the config models
	$(PY) -m infra.config.docs --write-readme

up:  ## the main job: local targets + a real node, push the app images, `pulumi up --stack local`, one HTTPS chat round trip
	$(PY) -m localenv up

down:  ## destroy the local stack and stop local targets
	$(PY) -m localenv down

clean:  ## stop the local services, then delete the local data, credentials and state (and say what)
	if [ -x $(PY) ]; then $(PY) -m localenv clean; else rm -rf .pulumi-state .localenv; fi
