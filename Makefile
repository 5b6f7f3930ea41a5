# Two entry points (see README): `make demo` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
OUT    ?= demo-output

.PHONY: demo test lint typecheck unit bench clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev,plot]"
	touch $@

demo: $(BIN)/.installed
	$(BIN)/l2trader demo --out $(OUT)

lint: $(BIN)/.installed
	$(BIN)/ruff check src tests benchmarks research
	$(BIN)/ruff format --check src tests benchmarks research

typecheck: $(BIN)/.installed
	$(BIN)/mypy

unit: $(BIN)/.installed
	$(BIN)/python -m pytest -q

# pytest exits 5 when no test ran; make treats any non-zero exit as a failure.
test: lint typecheck unit

bench: $(BIN)/.installed
	$(BIN)/python benchmarks/bench_ingest.py
	$(BIN)/python benchmarks/bench_replay.py

clean:
	rm -rf $(VENV) $(OUT) .mypy_cache .ruff_cache
