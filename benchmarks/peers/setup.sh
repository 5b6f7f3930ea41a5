#!/usr/bin/env bash
# Create benchmarks/peers/.venv (Python 3.11) and install the pinned peer packages.
# Idempotent: reuses an existing venv and skips pip when requirements are unchanged.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="$HERE/.venv"
REQ="$HERE/requirements.txt"
STAMP="$VENV/.requirements.sha256"
PY="${PEERS_PYTHON:-python3.11}"

if ! command -v "$PY" >/dev/null 2>&1; then
    echo "setup.sh: $PY not found (set PEERS_PYTHON to a Python 3.11 interpreter)" >&2
    exit 1
fi
if [[ -x "$VENV/bin/python" ]]; then
    echo "setup.sh: reusing venv $VENV ($("$VENV/bin/python" --version))"
else
    echo "setup.sh: creating venv $VENV with $PY ($("$PY" --version))"
    "$PY" -m venv "$VENV"
fi
want="$(sha256sum "$REQ" | cut -d' ' -f1)"
have="$(cat "$STAMP" 2>/dev/null || true)"
if [[ "$want" == "$have" ]]; then
    echo "setup.sh: requirements unchanged ($want); nothing to install"
else
    echo "setup.sh: installing pinned requirements from $REQ"
    "$VENV/bin/python" -m pip install --quiet --upgrade pip
    "$VENV/bin/python" -m pip install --quiet -r "$REQ"
    echo "$want" >"$STAMP"
fi
"$VENV/bin/python" - <<'PY'
from importlib.metadata import version
for pkg in ("hftbacktest", "nautilus_trader", "numpy", "numba"):
    print(f"setup.sh: {pkg}=={version(pkg)}")
PY
