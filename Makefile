# Two commands do everything on a fresh machine (see README):
#   make serve   install what is needed and run the server on local disk (127.0.0.1:1080)
#   make test    install what is needed and run the whole test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
NODE_DIR := tests/node

.PHONY: serve test lint typecheck pytest node-deps browser-deps bench bench-instructions clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

serve: $(STAMP)
	$(BIN)/tusserver serve $(ARGS)

node-deps:
	@if [ -f $(NODE_DIR)/package.json ]; then \
		cd $(NODE_DIR) && { [ -d node_modules ] && [ node_modules -nt package.json ] || npm install --no-audit --no-fund --silent; }; \
	fi

# tests/browser drives Debian's chromium (playwright-core from npm, no downloaded browser). Installed
# when missing and we are root with apt-get; otherwise the browser tests skip, or fail under CI=true.
browser-deps:
	@if ! command -v chromium >/dev/null 2>&1; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
		elif [ "$$CI" = true ]; then \
			echo "chromium is missing and cannot be installed here (needs root and apt-get)" >&2; exit 1; \
		else \
			echo "chromium is missing: tests/browser will be skipped (apt-get install chromium)" >&2; \
		fi; \
	fi

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check tusserver

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP) node-deps browser-deps
	$(BIN)/pytest $(PYTEST_ARGS)

test: lint typecheck pytest

bench: $(STAMP)
	$(BIN)/python bench/run.py $(ARGS)

bench-instructions: $(STAMP)
	$(BIN)/python bench/instructions.py $(ARGS)

clean:
	rm -rf $(VENV) build *.egg-info $(NODE_DIR)/node_modules
