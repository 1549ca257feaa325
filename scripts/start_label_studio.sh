#!/usr/bin/env bash
# Start a local Label Studio server for `geoscribe review` (issue 14), in its own venv.
# Install first with `make install-label-studio` (label-studio==1.23.2 in .venv-label-studio;
# it pins openai<2, Django 5.2 and pyarrow 24, so it cannot share the project's venv).
#
# Usage: scripts/start_label_studio.sh DATA_DIR
#   DATA_DIR  the server's data folder (database, uploads, exports); made when missing. Chips
#             exported by `geoscribe review push` go to DATA_DIR/files, which the server serves
#             as local files (LOCAL_FILES_DOCUMENT_ROOT=DATA_DIR).
# Environment overrides: LS_VENV (.venv-label-studio), HOST (127.0.0.1), PORT (8080),
# LABEL_STUDIO_USERNAME (reviewer@geoscribe.local), LABEL_STUDIO_PASSWORD (geoscribe-review),
# LABEL_STUDIO_USER_TOKEN (geoscribe-review-token; more than 5 characters). The user and its
# legacy API token are created only on the first start with a new DATA_DIR.
# First start with a new DATA_DIR takes about 70 s (migrations), later starts about 6 s.
# Fails at once when the port is taken.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LS_VENV="${LS_VENV:-$ROOT/.venv-label-studio}"
HOST="${HOST:-127.0.0.1}"
PORT="${PORT:-8080}"

if [[ $# -lt 1 ]]; then
  echo "usage: $0 DATA_DIR" >&2
  exit 2
fi
if [[ ! -x "$LS_VENV/bin/label-studio" ]]; then
  echo "error: $LS_VENV/bin/label-studio not found; run \`make install-label-studio\`" >&2
  exit 2
fi
if ! "$LS_VENV/bin/python" - "$HOST" "$PORT" <<'PY'
import socket, sys
sock = socket.socket()
try:
    sock.bind((sys.argv[1], int(sys.argv[2])))
except OSError as exc:
    sys.exit(f"error: {sys.argv[1]}:{sys.argv[2]} is taken ({exc.strerror})")
finally:
    sock.close()
PY
then
  exit 2
fi

TOKEN="${LABEL_STUDIO_USER_TOKEN:-geoscribe-review-token}"
if [[ ${#TOKEN} -le 5 ]]; then
  echo "error: LABEL_STUDIO_USER_TOKEN must be longer than 5 characters" >&2
  exit 2
fi
DATA_DIR="$(mkdir -p "$1" && cd "$1" && pwd)"
mkdir -p "$DATA_DIR/files"

export LABEL_STUDIO_BASE_DATA_DIR="$DATA_DIR"
export LATEST_VERSION_CHECK=false
export LABEL_STUDIO_USERNAME="${LABEL_STUDIO_USERNAME:-reviewer@geoscribe.local}"
export LABEL_STUDIO_PASSWORD="${LABEL_STUDIO_PASSWORD:-geoscribe-review}"
export LABEL_STUDIO_USER_TOKEN="$TOKEN"
export LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN=true
export LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK=true
export LOCAL_FILES_SERVING_ENABLED=true
export LOCAL_FILES_DOCUMENT_ROOT="$DATA_DIR"
export SENTRY_DSN="" FRONTEND_SENTRY_DSN="" COLLECT_ANALYTICS=false

exec "$LS_VENV/bin/label-studio" start --data-dir "$DATA_DIR" --internal-host "$HOST" \
  --port "$PORT" --no-browser "${@:2}"
