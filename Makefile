# Everything a fresh machine needs: `make run` serves, `make test` checks it all.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
BUF := node_modules/.bin/buf
STAMP := $(VENV)/.installed

TS := clients/typescript
TS_DEPS := $(TS)/node_modules/.installed

.PHONY: run migrate test pytest lint proto check-generated bench faults soak clean \
	test-polyglot breaking proto-ts check-generated-ts test-typescript \
	go-toolchain proto-go check-generated-go test-go

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

# The clients in other languages and the contract's compatibility: needs npm, and
# Debian's Go packages (installed by `go-toolchain` when missing, as root).
test-polyglot: breaking test-typescript test-go

breaking: $(BUF)
	scripts/check_breaking.sh $(BUF)

$(TS_DEPS): $(TS)/package.json $(TS)/package-lock.json
	cd $(TS) && npm ci --silent --no-audit --no-fund
	touch $@

proto-ts: $(BUF) $(TS_DEPS)
	$(BUF) generate --template buf.gen.ts.yaml

check-generated-ts: proto-ts
	git diff --exit-code -- $(TS)/src/gen
	test -z "$$(git status --porcelain -- $(TS)/src/gen)"

test-typescript: $(STAMP) check-generated-ts
	cd $(TS) && npm test

go-toolchain:
	scripts/install_go_toolchain.sh

proto-go: $(BUF) go-toolchain
	$(BUF) generate --template buf.gen.go.yaml

check-generated-go: proto-go
	git diff --exit-code -- clients/go/sessionsv1
	test -z "$$(git status --porcelain -- clients/go/sessionsv1)"

test-go: $(STAMP) check-generated-go
	scripts/go_smoke.sh

bench: $(STAMP)
	$(BIN)/python -m bench

# The service through faults, on a PostgreSQL cluster of their own (see README).
faults: $(STAMP)
	$(BIN)/python -m faults

soak: $(STAMP)
	$(BIN)/python -m faults.soak

clean:
	rm -rf $(VENV) node_modules $(TS)/node_modules $(TS)/dist
