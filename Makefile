# Pasture developer entry points. `make test` and `make demo` set everything up
# themselves (idempotently); caches live under $${XDG_CACHE_HOME:-~/.cache}/pasture.
SHELL := /bin/bash
.DEFAULT_GOAL := help
VENV := .venv/bin
PYTEST_ARGS ?=

.PHONY: help
help: ## Show the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-17s %s\n", $$1, $$2}'

.PHONY: setup
setup: setup-python setup-builds setup-monitoring ## Everything the tests need: the virtualenv, the cached builds, promtool

.PHONY: setup-python
setup-python: ## The virtualenv (vLLM CPU engine, operator, runtime, dev tools)
	@hack/setup-python

.PHONY: setup-builds
setup-builds: ## Build every cached binary at once: control plane, LeaderWorkerSet, ollama CLI, ollama-js (cold: minutes)
	@hack/build-all

.PHONY: setup-kube
setup-kube: ## Build the Kubernetes binaries and the LeaderWorkerSet controller (cached)
	@hack/build-kube >/dev/null
	@hack/build-lws >/dev/null

.PHONY: setup-monitoring
setup-monitoring: ## Install promtool and prometheus (Debian package; needs root)
	@hack/setup-monitoring

.PHONY: setup-clients
setup-clients: ## Build the stock `ollama` CLI, fetch Ollama's Go module (templates), install ollama-js from npm (cached)
	@hack/ollama-cli >/dev/null
	@hack/ollama-module >/dev/null
	@hack/ollama-js >/dev/null

.PHONY: lint
lint: setup-python ## ruff, mypy and the import layer rules
	$(VENV)/ruff check .
	$(VENV)/ruff format --check .
	$(VENV)/mypy
	$(VENV)/lint-imports

# Test tiers by marker (tests/fixtures/tiers.py): PASTURE_TEST_TIER makes an
# unmarked test that reaches a control plane or an engine fail at once.
.PHONY: test-unit
test-unit: setup-python ## Tests with no control plane and no engine (under a minute)
	PASTURE_TEST_TIER=unit $(VENV)/pytest -m "not kube and not engine and not vllm" $(PYTEST_ARGS)

.PHONY: test-kube
test-kube: setup-python setup-kube setup-monitoring ## Tests on the local control plane (with the engine where marked both)
	PASTURE_TEST_TIER=kube $(VENV)/pytest -m kube $(PYTEST_ARGS)

.PHONY: test-engine
test-engine: setup-python setup-clients ## Tests on the vLLM CPU engine (no control plane)
	PASTURE_TEST_TIER=engine $(VENV)/pytest -m "(engine or vllm) and not kube and not browser" $(PYTEST_ARGS)

.PHONY: test-browser
test-browser: setup-python ## Open WebUI on the vLLM CPU engine, driven in headless Chromium (installs them, cached)
	@hack/open-webui >/dev/null
	PASTURE_TEST_TIER=engine $(VENV)/pytest -m browser $(PYTEST_ARGS)

.PHONY: test
test: setup lint ## Set up and run every test (lint, unit, local control plane, vLLM engine; not the browser test)
	$(VENV)/pytest -m "not browser" $(PYTEST_ARGS)

.PHONY: demo
demo: setup-python setup-kube ## Local control plane + operator + a Model and ModelDeployment + an Ollama API call
	@hack/demo

.PHONY: cluster-up
cluster-up: setup-python setup-kube ## Start the local control plane (prints the kubeconfig path)
	@hack/cluster up

.PHONY: cluster-down
cluster-down: ## Stop the local control plane
	@hack/cluster down

.PHONY: cold-test
cold-test: ## Prove a cold run works: fresh clone, empty cache, `make test` (takes long)
	@hack/cold-test

.PHONY: clean-cache
clean-cache: ## Delete the download/build caches and .venv (next run is cold)
	rm -rf "$${PASTURE_CACHE:-$${XDG_CACHE_HOME:-$$HOME/.cache}/pasture}" .venv
