# Two commands: `make run` and `make test`. Everything else is optional.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint format check-all bench clean

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@# The console's browser tests drive Debian's Chromium (Playwright never downloads one).
	test -x /usr/bin/chromium || (apt-get update -q && apt-get install -y -q chromium)
	touch $(STAMP)

## Start the embedded database (unless MONGODB_URI is set), seed demo data, the API and the jobs worker.
run: $(STAMP)
	$(BIN)/python -m devserver.run

## Run the whole test suite against a real MongoDB-wire server (embedded, or TEST_MONGODB_URI),
## split over TEST_WORKERS processes (pytest-xdist), each with its own embedded server.
TEST_WORKERS ?= 2
test: $(STAMP)
	$(BIN)/python -m pytest -n $(TEST_WORKERS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

## The slow tier: lint, every test including the slow ones, the long fuzz run, the auditors
## and the benchmarks. The fuzz run counts its requests (>= 5,000) and 5xx answers (0).
FUZZ_EXAMPLES ?= 40
PIP_AUDIT_FLAGS ?=
check-all: $(STAMP) lint
	$(BIN)/python -m pytest -m "slow or not slow" --run-slow
	$(BIN)/python -m tests.fuzz_slow_tier $(FUZZ_EXAMPLES)
	$(BIN)/pip-audit -r requirements.txt $(PIP_AUDIT_FLAGS)
	$(BIN)/bandit -r api jobs -q
	$(MAKE) bench

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
