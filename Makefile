# Pasture developer entry points. `make test` and `make demo` set everything up
# themselves (idempotently); caches live under $${XDG_CACHE_HOME:-~/.cache}/pasture.
SHELL := /bin/bash
.DEFAULT_GOAL := help
VENV := .venv/bin
PYTEST_ARGS ?=

.PHONY: help
help: ## Show the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

.PHONY: setup
setup: ## Install the virtualenv (vLLM CPU engine) and build the Kubernetes binaries
	@hack/setup-python
	@hack/build-kube >/dev/null
	@hack/setup-monitoring

.PHONY: lint
lint: setup ## ruff, mypy and the import layer rules
	$(VENV)/ruff check .
	$(VENV)/ruff format --check operator runtime tests hack/tiny_model.py hack/tiny_vision_model.py bench
	$(VENV)/mypy
	$(VENV)/lint-imports

.PHONY: test
test: setup lint ## Set up and run every test (lint, unit, local control plane, vLLM engine)
	$(VENV)/pytest $(PYTEST_ARGS)

.PHONY: demo
demo: setup ## Local control plane + operator + a Model and ModelDeployment + an Ollama API call
	@hack/demo

.PHONY: cluster-up
cluster-up: setup ## Start the local control plane (prints the kubeconfig path)
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
