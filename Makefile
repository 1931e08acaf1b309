# Every target builds its own virtual environment first, so a fresh machine needs only Python 3.11+.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: run test bench scenarios typecheck clean

$(BIN)/switchboard: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,semantic]'
	touch $@

## run: set up, then run the main job: the server with embedded Redis and store (data in ./var)
run: $(BIN)/switchboard
	$(BIN)/switchboard serve

## test: set up, then run the whole test suite (entity tests on both runtimes, scenarios, properties)
test: $(BIN)/switchboard
	$(BIN)/python -m pytest -q

bench: $(BIN)/switchboard
	$(BIN)/python load/bench_dispatch.py
	$(BIN)/python load/bench_edge.py --quick
	$(BIN)/python load/eval_bot.py
	$(BIN)/python load/bench_index.py

# The seed scenarios of ../shared/scenarios have copies in tests/scenarios, so a plain clone runs them all.
scenarios: $(BIN)/switchboard
	$(BIN)/switchboard scenario --runtime local tests/scenarios/*.yaml

typecheck: $(BIN)/switchboard
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .hypothesis
