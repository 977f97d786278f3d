# WebSocketChat. `make` or `make help` lists the targets.
SHELL := /bin/bash
CARGO ?= cargo
BIN := target/release/websocketchat
COMPOSE ?= $(shell docker compose version >/dev/null 2>&1 && echo "docker compose" || echo docker-compose)

.DEFAULT_GOAL := help
.PHONY: help run build test test-architecture test-rust test-browser test-topology test-containers fmt fmt-check lint doc certs clean \
	bench bench-compare autobahn up start down rebuild ps logs

help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

# The local run needs no Kafka client: leave it out of the build unless asked for
# (`make run KAFKA_ENABLED=true`, with the other KAFKA_* settings in the environment or .env).
RUN_FEATURES := $(if $(filter true,$(KAFKA_ENABLED)),,--no-default-features)

run: ## Build (release) and start the chat on https://localhost:8443 (settings from .env)
	$(CARGO) run --release --bin websocketchat $(RUN_FEATURES)

build: ## Build the release binary
	$(CARGO) build --release

test: test-architecture fmt-check lint test-rust test-browser test-topology test-containers ## Everything CI runs: architecture, format, lints, Rust, browser, topology and container tests

test-architecture: ## The layers, import cycles and file sizes of src/ (sizes and cycles of bench/src/ too), the page's module sizes, the paths the docs name (scripts/architecture.py)
	python3 scripts/architecture.py

test-rust: ## Unit and integration tests (real server, real sockets, ws:// and wss://)
	$(CARGO) test --lib --bins --test integration --test hostile

test-browser: ## The page in headless Chromium (installs chromium and the test's npm packages)
	bash tests/browser/run.sh

test-topology: ## Two instances, Apache Kafka and nginx natively, as docker-compose.yml wires them
	bash tests/topology/run.sh

test-containers: ## Build the Dockerfile and run docker-compose.yml through `make up` (podman; installs it)
	bash tests/containers/run.sh

fmt: ## Format the code
	$(CARGO) fmt --all

fmt-check: ## Fail if the code is not formatted
	$(CARGO) fmt --all -- --check

lint: ## Clippy with warnings as errors (with and without the kafka feature)
	$(CARGO) clippy --workspace --all-targets --all-features -- -D warnings
	$(CARGO) clippy --all-targets --no-default-features -- -D warnings

doc: ## API docs, broken links fail
	RUSTDOCFLAGS=-Dwarnings $(CARGO) doc --no-deps --document-private-items

certs: ## Certificates for localhost in certs/ (mkcert when installed, else self-signed)
	@mkdir -p certs
	@if command -v mkcert >/dev/null; then \
		mkcert -cert-file certs/cert.pem -key-file certs/key.pem localhost 127.0.0.1 ::1; \
	else \
		$(CARGO) run --release --bin websocketchat -- certs; \
	fi

bench: ## Benchmarks: server on one core, load generator on the other; prints the table
	bash bench/run.sh

bench-compare: ## The same scenarios against two reference servers: a Go gorilla chat hub and Bun (uWebSockets)
	bash bench/compare.sh

autobahn: ## RFC 6455 conformance: the Autobahn|Testsuite Docker image against /echo (needs Docker)
	bash scripts/autobahn.sh

up: ## Containers: rebuild images, recreate, start in the background (nginx on https://localhost)
	@mkdir -p certs
	$(COMPOSE) up -d --build --force-recreate

start: ## Containers: start without rebuilding
	@mkdir -p certs
	$(COMPOSE) up -d

down: ## Containers: stop and remove them, their volumes and orphans
	$(COMPOSE) down --volumes --remove-orphans

rebuild: ## Containers: down, then up
	$(MAKE) down
	$(MAKE) up

ps: ## Containers: list them
	$(COMPOSE) ps

logs: ## Containers: follow their logs
	$(COMPOSE) logs -f

clean: ## Remove build output, and the project's containers and images
	-$(COMPOSE) down --volumes --remove-orphans --rmi local
	$(CARGO) clean
