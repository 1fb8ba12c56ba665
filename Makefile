# Two commands do everything on a fresh machine (see README):
#   make serve   install what is needed and run the server on local disk (127.0.0.1:1080)
#   make test    install what is needed and run the whole test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
NODE_DIR := tests/node

.PHONY: serve test lint typecheck pytest node-deps bench bench-instructions soak clean

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

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check tusserver

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP) node-deps
	$(BIN)/pytest $(PYTEST_ARGS)

test: lint typecheck pytest

bench: $(STAMP)
	$(BIN)/python bench/run.py $(ARGS)

bench-instructions: $(STAMP)
	$(BIN)/python bench/instructions.py $(ARGS)

# A leak hunt, not a benchmark: 100,000 small + 200 x 64 MiB uploads with auth on (ARGS="--small 20000" for less)
soak: $(STAMP)
	$(BIN)/python bench/soak.py $(ARGS)

clean:
	rm -rf $(VENV) build *.egg-info $(NODE_DIR)/node_modules
