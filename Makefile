# geoscribe developer entry points. `make demo` and `make test` are the README's Quickstart.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test install install-clip lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install -q ".[test]"

# the CLIP filter's extra; torch/torchvision pinned to the builds this machine kind ships
install-clip: install
	$(BIN)/pip install -q "torch==2.14.1" "torchvision==0.29.1" ".[clip]"

demo: install
	$(BIN)/build-dataset skyscript-like --region demo --out out/demo

lint: install
	$(BIN)/ruff check src tests benchmarks

test: install-clip lint
	$(BIN)/python -m pytest -q

bench: install
	$(BIN)/python benchmarks/skyscript_throughput.py

clean:
	rm -rf out .pytest_cache build dist
