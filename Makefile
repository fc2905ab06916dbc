# The two commands a new user needs: `make dev` (local stack) and `make test`.
# `make test` runs the quick tier (under a minute); `make test-slow` the rest; CI runs both.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SAM_ENV := SAM_CLI_TELEMETRY=0 AWS_DEFAULT_REGION=us-east-1 AWS_REGION=us-east-1 \
	AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing

.PHONY: venv dev dev-reset test test-slow lint typecheck unit validate build bench bench-dev \
	fuzz clean

venv: $(STAMP)

$(STAMP): requirements-dev.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -r requirements-dev.txt
	$(BIN)/python -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $(STAMP)

dev: $(STAMP)
	$(BIN)/python -m devtools.devserver

# make dev with an empty table (forgets what .local-data/devserver/ kept).
dev-reset: $(STAMP)
	$(BIN)/python -m devtools.devserver --reset

test: lint typecheck unit validate

lint: $(STAMP)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

typecheck: $(STAMP)
	$(BIN)/mypy

# pytest's summary line ends with the run's wall time; the slowest tests follow it.
unit: $(STAMP)
	$(BIN)/pytest --durations=5

# Subprocess end-to-end runs, the fuzz smoke run, the 5,000-event tick, and the
# property tests at their full example counts.
test-slow: $(STAMP)
	$(BIN)/pytest -m "slow or property" --hypothesis-profile=full --durations=5 -n 0

validate: $(STAMP)
	$(SAM_ENV) $(BIN)/sam validate --lint --template template.yaml
	$(BIN)/cfn-lint template.yaml

build: $(STAMP)
	$(SAM_ENV) $(BIN)/sam build --template template.yaml

bench: $(STAMP)
	$(BIN)/python -m bench.run
	$(BIN)/python -m bench.scheduler

# make dev under load: 100 hourly-rule creates, latency, memory, stop time.
bench-dev: $(STAMP)
	$(BIN)/python -m bench.devstack

fuzz: $(STAMP)
	$(BIN)/python -m fuzz.run

clean:
	rm -rf $(VENV) .aws-sam .mypy_cache .ruff_cache
