#!/usr/bin/env bash
# The GPU verification in one run (benchmarks/gpu_check.py): on a lent GPU machine, ./benchmarks/gpu_check.sh
# with $OUT set; results in $OUT/gpu_check.json and $OUT/gpu_check.log (copy them to benchmarks/results/gpu/).
# Wheels of the libraries the machine's image lacks travel in .whl/ (benchmarks/README.md); the offline model's
# GGUF file in .device_cache/ (CRLFT_OFFLINE_GGUF). `--dry-run` checks the same plumbing on a CPU.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-benchmarks/results/gpu}
mkdir -p "$OUT"
if compgen -G ".whl/*.whl" > /dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site:$PWD
fi
if [ -z "${CRLFT_OFFLINE_GGUF:-}" ] && [ -f .device_cache/SmolLM2-135M-Instruct.Q4_1.gguf ]; then
  export CRLFT_OFFLINE_GGUF=$PWD/.device_cache/SmolLM2-135M-Instruct.Q4_1.gguf
fi
export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false CRLFT_CACHE_DIR=${CRLFT_CACHE_DIR:-/tmp/crlft-cache}
command -v nvidia-smi > /dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
timeout 590 python3 benchmarks/gpu_check.py --out "$OUT" --budget-min 6 "$@" 2>&1 | tee "$OUT/gpu_check.log"
