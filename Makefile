# The two commands a newcomer needs are `make run` and `make test`; everything else is optional.
SHELL := /bin/bash
PYTHON ?= python3
BACKEND := backend
VENV := $(BACKEND)/.venv
UV := $(VENV)/bin/uv
UV_VERSION := 0.13.9
# uv must never download an interpreter; the machine's Python 3.11+ is the one we use.
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(abspath $(VENV))

.PHONY: install run dev token test fuzz test-pgbouncer lint typecheck migrations-check migrate check bench bench-smoke bench-micro bench-tools clean

# The virtual environment is rebuilt whenever the lock file changes.
$(VENV)/.installed: $(BACKEND)/pyproject.toml $(BACKEND)/uv.lock
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	@test -x $(UV) || $(VENV)/bin/python -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"
	cd $(BACKEND) && $(abspath $(UV)) sync --locked --quiet
	@touch $@

## Create backend/.venv and install the locked dependencies (again whenever the lock file changes).
install: $(VENV)/.installed

## Serve the API with production settings (embedded PostgreSQL when DATABASE_URL is unset).
run: install
	cd $(BACKEND) && .venv/bin/python -m app.serve

## Print a development token: make token SUB=alice [EMAIL=alice@example.com]
token: install
	@cd $(BACKEND) && .venv/bin/python -m app.auth.dev_token --sub "$(SUB)" $(if $(EMAIL),--email "$(EMAIL)")

## Run the whole test suite (embedded PostgreSQL unless TEST_DATABASE_URL names a server).
test: install
	cd $(BACKEND) && .venv/bin/python -m pytest $(PYTEST_ARGS)

## Contract fuzzing: schemathesis against a served instance, as "alice", for FUZZ_SECONDS.
fuzz: install
	cd $(BACKEND) && FUZZ_SECONDS=$${FUZZ_SECONDS:-60} .venv/bin/python -m pytest tests/contract/test_schemathesis.py -q

## The whole suite with the app behind a real PgBouncer in transaction mode (Neon's pooler).
test-pgbouncer: install
	@command -v pgbouncer >/dev/null || test -x /usr/sbin/pgbouncer || \
		(apt-get update && apt-get install -y pgbouncer)
	cd $(BACKEND) && .venv/bin/python -m tests.support.pgbouncer -- .venv/bin/python -m pytest $(PYTEST_ARGS)

## Three instances of the API behind HAProxy, through one PgBouncer, with Redis for the rate
## limit: stops and kills instances under a stream of writes and checks that nothing is lost
## or doubled (about a minute; backend/tests/instances/run.py says what it proves).
.PHONY: test-instances
test-instances: install
	@command -v pgbouncer >/dev/null || test -x /usr/sbin/pgbouncer || \
		(apt-get update && apt-get install -y pgbouncer)
	@command -v haproxy >/dev/null || test -x /usr/sbin/haproxy || \
		(apt-get update && apt-get install -y haproxy)
	cd $(BACKEND) && .venv/bin/python -m tests.instances.run

## Ruff's lint rules and formatting check, then the import-linter layer contracts (make layers).
lint: install
	cd $(BACKEND) && .venv/bin/ruff check . && .venv/bin/ruff format --check .
	@$(MAKE) --no-print-directory layers

## mypy --strict on app, migrations and tests.
typecheck: install
	cd $(BACKEND) && .venv/bin/mypy

## Fails when the SQLModel tables and the Alembic migrations disagree.
migrations-check: install
	cd $(BACKEND) && .venv/bin/python -m app.core.migrate check

## Apply pending Alembic migrations to DATABASE_URL_DIRECT (or DATABASE_URL, or the embedded PostgreSQL).
migrate: install
	cd $(BACKEND) && .venv/bin/python -m app.core.migrate upgrade

## Everything a change should pass before review: lint, typecheck, migrations-check, test.
check: lint typecheck migrations-check test

## Load-test the API against a raw-driver ceiling and write docs/performance.md (a few minutes;
## the embedded PostgreSQL unless BENCH_DATABASE_URL names a server). BENCH_ARGS="--help" lists options.
bench: install bench-tools
	cd $(BACKEND) && .venv/bin/python -m bench.run $(BENCH_ARGS)

## Seconds of the same harness on tiny data: checks it end to end, writes no report.
bench-smoke: install bench-tools
	cd $(BACKEND) && .venv/bin/python -m bench.run --smoke

## CPU time per request of the task routes, measured in-process (no server, no wrk): seconds,
## for comparing a change before and after. MICRO_ARGS="--help" lists options.
bench-micro: install
	cd $(BACKEND) && .venv/bin/python -m bench.micro $(MICRO_ARGS)

## Install the load generator, wrk, from the distribution's packages.
bench-tools:
	@command -v wrk >/dev/null || { \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq wrk; }

## Remove backend/.venv (make install rebuilds it).
clean:
	rm -rf $(VENV)

# The TypeScript client (clients/typescript): Node 20+ and npm, from the distribution if absent.
CLIENT := clients/typescript
.PHONY: client client-deps client-check test-client

## Install the TypeScript client's npm dependencies (Node 20+ and npm from the distribution if absent).
client-deps: $(CLIENT)/node_modules/.installed

$(CLIENT)/node_modules/.installed: $(CLIENT)/package.json $(CLIENT)/package-lock.json
	@command -v npm >/dev/null || { \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq nodejs npm; }
	@node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' || \
		{ echo "the TypeScript client needs Node 20 or later (node --version: $$(node --version))"; exit 1; }
	cd $(CLIENT) && npm ci --omit=optional --no-audit --no-fund
	@touch $@

## Regenerate the TypeScript client's types from the app's OpenAPI schema (no server needed).
client: install client-deps
	cd $(BACKEND) && .venv/bin/python -m app.openapi_schema --output ../$(CLIENT)/openapi.json
	cd $(CLIENT) && npm run --silent generate

## Fails when the committed schema or generated types differ from what `make client` writes.
client-check: client
	@git diff --exit-code --stat -- $(CLIENT)/openapi.json $(CLIENT)/src/schema.ts || \
		{ echo "The TypeScript client's types are stale: run make client and commit the result."; exit 1; }

## Type-check the client, its tests and examples (tsc --strict), then run its tests against the
## API served on a fresh database of TEST_DATABASE_URL's server (default the local PostgreSQL).
test-client: install client-deps
	cd $(CLIENT) && npm run --silent typecheck && npm test

.PHONY: image test-image k8s-check

## The container image (Dockerfile), with podman, buildah or docker, whichever is installed.
## make image [IMAGE=localhost/todo-api:latest] [BASE_IMAGE=python:3.12-slim]
IMAGE ?= localhost/todo-api:latest
BASE_IMAGE ?= python:3.12-slim
# podman/buildah: the build trusts the host's CA certificates (mounted for the build only, never
# copied into the image), so that it works behind a TLS-intercepting proxy; empty: not mounted.
IMAGE_CA_CERTS ?= /etc/ssl/certs
# podman/buildah run RUN steps with this isolation; chroot needs no container runtime.
IMAGE_ISOLATION ?= chroot
image:
	@if command -v podman >/dev/null || command -v buildah >/dev/null; then \
		builder=$$(command -v podman >/dev/null && echo podman || echo buildah); \
		ca=""; if [ -n "$(IMAGE_CA_CERTS)" ] && [ -f "$(IMAGE_CA_CERTS)/ca-certificates.crt" ]; then \
			ca="--volume $(IMAGE_CA_CERTS):/etc/ssl/certs:ro --build-arg SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"; fi; \
		set -x; $$builder build --format docker --isolation $(IMAGE_ISOLATION) $$ca \
			--build-arg BASE_IMAGE=$(BASE_IMAGE) --tag $(IMAGE) .; \
	elif command -v docker >/dev/null; then \
		set -x; docker build --build-arg BASE_IMAGE=$(BASE_IMAGE) --tag $(IMAGE) .; \
	else echo "make image needs podman, buildah or docker (Debian: apt-get install -y podman)" >&2; exit 1; fi

# Where `make test-image` keeps its Debian base between runs (outside the clone, so that a fresh
# clone reuses it too).
IMAGE_CACHE_DIR ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/todo-api-image
TEST_BASE_IMAGE := localhost/todo-api-base:bookworm
TEST_IMAGE := localhost/todo-api:test

## Build the image on a local Debian base (no registry needed) and run its content against the
## PostgreSQL at 127.0.0.1:5432: starts, migrates, /readyz, a task created and listed, SIGTERM.
test-image: install
	@command -v podman >/dev/null && command -v mmdebstrap >/dev/null || \
		(apt-get update && apt-get install -y podman buildah mmdebstrap)
	@podman image exists $(TEST_BASE_IMAGE) || { \
		mkdir -p "$(IMAGE_CACHE_DIR)"; tarball="$(IMAGE_CACHE_DIR)/debian-bookworm-python3.tar"; \
		test -s "$$tarball" || { \
			mmdebstrap --variant=minbase --format=tar --include=python3,ca-certificates bookworm "$$tarball.part" \
			&& mv "$$tarball.part" "$$tarball"; }; \
		podman import "$$tarball" $(TEST_BASE_IMAGE); }
	$(MAKE) --no-print-directory image BASE_IMAGE=$(TEST_BASE_IMAGE) IMAGE=$(TEST_IMAGE) IMAGE_ISOLATION=chroot
	@echo "image size: $$(podman image inspect --format '{{.Size}}' $(TEST_IMAGE) | numfmt --to=iec-i --suffix=B) ($$(podman image inspect --format '{{.Size}}' $(TEST_IMAGE)) bytes); base: $$(podman image inspect --format '{{.Size}}' $(TEST_BASE_IMAGE) | numfmt --to=iec-i --suffix=B)"
	cd $(BACKEND) && .venv/bin/python -m tests.support.image_run $(TEST_IMAGE)

## Render every Kustomize overlay under deploy/k8s (kubectl kustomize) and validate each manifest
## offline against the Kubernetes schemas (kubernetes-validate) and the deployment's rules.
k8s-check: install
	cd $(BACKEND) && .venv/bin/python -m tests.support.k8s_check

.PHONY: layers help

## The import-linter contracts in backend/.importlinter: which package may import which; fails
## naming the broken contract.
layers: install
	cd $(BACKEND) && .venv/bin/lint-imports --no-cache

## List every target with its description (the first sentence of the `## ` lines above it).
help:
	@awk '/^## / { text = text (text ? " " : "") substr($$0, 4); next } \
		/^[a-zA-Z][a-zA-Z0-9_-]*:([^=]|$$)/ { \
			name = substr($$0, 1, index($$0, ":") - 1); \
			if (text) { sub(/\. .*/, ".", text); printf "  %-18s %s\n", name, text } \
			else printf "  %-18s (no description)\n", name; \
			text = "" }' $(firstword $(MAKEFILE_LIST))
