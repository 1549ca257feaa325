# geoscribe developer entry points. `make demo` and `make test` are the README's Quickstart.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test install lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install -q ".[test]"

demo: install
	$(BIN)/build-dataset skyscript-like --region demo --out out/demo

lint: install
	$(BIN)/ruff check src tests benchmarks

test: install lint
	$(BIN)/python -m pytest -q

bench: install
	$(BIN)/python benchmarks/skyscript_throughput.py

clean:
	rm -rf out .pytest_cache build dist
