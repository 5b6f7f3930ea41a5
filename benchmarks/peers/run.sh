#!/usr/bin/env bash
# Run both peer benchmarks end to end: set up the venv, write inputs to a temp dir,
# print one JSON line per peer on stdout (logs on stderr).
# Usage: benchmarks/peers/run.sh [SYNTHETIC_C1.npy [TICK_SIZE]]
#   Without arguments a 1,000,000-event random C1 stream (tick 0.1) is generated.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
"$HERE/setup.sh" >&2
PY="$HERE/.venv/bin/python"
GZ="$HERE/../../../shared/data/hftbacktest-binance-hyperliquid/binance_usdm_btcusdt_20240808.gz"
TMP="$(mktemp -d /tmp/l2trader-peers.XXXXXX)"
trap 'rm -rf "$TMP"' EXIT
NPY="${1:-}"
TICK="${2:-0.1}"
if [[ -z "$NPY" ]]; then
    NPY="$TMP/synthetic.npy"
    "$PY" "$HERE/make_inputs.py" synthetic "$NPY" --n 1000000 >&2
fi
"$PY" "$HERE/make_inputs.py" tardis-from-binance "$GZ" "$TMP/usdm_l2.csv" >&2
"$PY" "$HERE/make_inputs.py" tardis-from-npy "$NPY" "$TMP/synthetic_l2.csv" --tick-size "$TICK" >&2
"$PY" "$HERE/bench_hftbacktest.py" --binance-gz "$GZ" --synthetic-npy "$NPY" --tick-size "$TICK"
"$PY" "$HERE/bench_nautilus.py" --tardis-csv "$TMP/usdm_l2.csv" --synthetic-tardis-csv "$TMP/synthetic_l2.csv"
