# Two commands do everything on a fresh machine (see README):
#   make serve   install what serving needs and run the server on local disk (127.0.0.1:1080)
#   make test    install tusserver with the test tools and run the whole test suite
# `make install` only installs (then `. .venv/bin/activate` puts `tusserver` on PATH).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Two stamps: serving needs tusserver alone (seconds to install); tests add pytest, moto, mypy... (minutes).
BASE_STAMP := $(VENV)/.base-stamp
STAMP := $(VENV)/.dev-stamp
NODE_DIR := tests/node

.PHONY: install serve test lint typecheck pytest node-deps browser-deps cluster-deps grpc-stubs bench bench-clouds bench-instructions soak docs-images clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(BASE_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e .
	touch $(BASE_STAMP)

$(STAMP): pyproject.toml $(BASE_STAMP)
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(BASE_STAMP)

serve: $(BASE_STAMP)
	$(BIN)/tusserver serve $(ARGS)

node-deps:
	@if [ -f $(NODE_DIR)/package.json ]; then \
		cd $(NODE_DIR) && { [ -d node_modules ] && [ node_modules -nt package.json ] || npm install --no-audit --no-fund --silent; }; \
	fi

# $(call debian_tool,PACKAGE,CHECK,TESTS): when CHECK fails, install the Debian PACKAGE if we are root
# with apt-get; otherwise TESTS skip, or fail under CI=true.
define debian_tool
	@if ! { $(2); } >/dev/null 2>&1; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(1); \
		elif [ "$$CI" = true ]; then \
			echo "$(1) is missing and cannot be installed here (needs root and apt-get)" >&2; exit 1; \
		else \
			echo "$(1) is missing: $(3) will be skipped (apt-get install $(1))" >&2; \
		fi; \
	fi
endef

# tests/browser drives Debian's chromium (playwright-core from npm, no downloaded browser).
browser-deps:
	$(call debian_tool,chromium,command -v chromium,tests/browser)

# tests/cluster puts Debian's nginx in front of three instances (run with its own config and ports,
# not as a service).
cluster-deps:
	$(call debian_tool,nginx,command -v nginx || [ -x /usr/sbin/nginx ],tests/cluster)

# --hooks-grpc's messages: generated from proto/hook.proto and committed, so an install of [grpc] needs no
# code generator; run after editing hook.proto (grpcio-tools is a dev dependency).
GRPC_PROTO := tusserver/hooks/transports/proto/hook.proto
grpc-stubs: $(STAMP)
	$(BIN)/python -m grpc_tools.protoc -I. --python_out=. --pyi_out=. $(GRPC_PROTO)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check tusserver

typecheck: $(STAMP)
	$(BIN)/mypy

# Most tests wait on real servers, clients and token lifetimes rather than on the CPU: three workers
# (whole files per worker, so module-scoped servers are started once) on 2 cores ran the 768 tests in
# 5 min 01 s (quiet machine, 2026-12-05); serial took over 11 min for 629 of them.
PYTEST_WORKERS ?= 3

pytest: $(STAMP) node-deps browser-deps cluster-deps
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

test: lint typecheck pytest

bench: $(STAMP)
	$(BIN)/python bench/run.py $(ARGS)

# The Azure and GCS stores against @tus/server's on the same emulators (Azurite from tests/node, fake-gcs-server).
bench-clouds: $(STAMP) node-deps
	$(BIN)/python bench/clouds.py $(ARGS)

bench-instructions: $(STAMP)
	$(BIN)/python bench/instructions.py $(ARGS)

# A leak hunt, not a benchmark: 100,000 small + 200 x 64 MiB uploads with auth on (ARGS="--small 20000" for less)
soak: $(STAMP)
	$(BIN)/python bench/soak.py $(ARGS)

# The README's pictures, redrawn from a real server: the demo page (headless Chromium) and `tusserver upload`
# in a tmux pane (as SVG). Needs browser-deps and tmux.
docs-images: $(STAMP) node-deps browser-deps
	@secret=$$($(BIN)/python -c 'import secrets; print(secrets.token_urlsafe(32))'); \
	data=$$(mktemp -d); \
	TUSSERVER_JWT_SECRET=$$secret $(BIN)/tusserver serve --demo --port 18080 --data-dir $$data/demo --log-level warning & demo=$$!; \
	$(BIN)/tusserver serve --port 18081 --data-dir $$data/plain --log-level warning & plain=$$!; \
	sleep 3; \
	NODE_PATH=$(NODE_DIR)/node_modules node docs/images/demo-screenshot.cjs http://127.0.0.1:18080/ docs/images/demo-page.png \
	  && $(BIN)/python docs/images/upload_screenshot.py http://127.0.0.1:18081/files/ docs/images/upload-terminal.svg; \
	status=$$?; kill $$demo $$plain; rm -rf $$data; exit $$status

clean:
	rm -rf $(VENV) build *.egg-info $(NODE_DIR)/node_modules
