# Everything a fresh machine needs: `make run` serves, `make test` checks it all.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
BUF := node_modules/.bin/buf
STAMP := $(VENV)/.installed

.PHONY: run migrate test pytest lint proto check-generated bench clean

$(STAMP): server/pyproject.toml clients/python/pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e clients/python -e 'server[dev]'
	touch $@

$(BUF): package.json package-lock.json
	npm ci --silent --no-audit --no-fund
	touch $@

run: $(STAMP)
	$(BIN)/sessions-server migrate
	exec $(BIN)/sessions-server serve

migrate: $(STAMP)
	$(BIN)/sessions-server migrate

test: lint check-generated pytest

pytest: $(STAMP)
	$(BIN)/pytest $(PYTEST_ARGS)

lint: $(STAMP) $(BUF)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BUF) lint
	$(BUF) format --exit-code --diff

proto: $(STAMP) $(BUF)
	$(BIN)/python scripts/gen_protos.py $(BUF)

check-generated: proto
	git diff --exit-code -- clients/python/src/sessions_client/_generated
	test -z "$$(git status --porcelain -- clients/python/src/sessions_client/_generated)"

bench: $(STAMP)
	$(BIN)/python -m bench.send_stream

clean:
	rm -rf $(VENV) node_modules
