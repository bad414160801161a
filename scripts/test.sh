#!/usr/bin/env bash
# Set everything up, then run the unit tests and execute every lesson under nbval on the `cpu` profile.
# Two pytest workers (pytest-xdist) with the cores split between them: most of a notebook's time is Python
# overhead that one core cannot share, and conftest.py keeps each notebook (and lessons 03 + 04) on one worker, in order.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
bash scripts/setup.sh
. .venv/bin/activate
workers=${CRLFT_TEST_WORKERS:-2}
threads=$(( $(nproc) / workers )); [ "$threads" -ge 1 ] || threads=1
export COURSE_PROFILE=cpu PYTHONHASHSEED=0 TOKENIZERS_PARALLELISM=false OMP_NUM_THREADS=${OMP_NUM_THREADS:-$threads}
python -m pytest tests notebooks solutions --nbval --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg \
  --nbval-cell-timeout 1800 -p no:cacheprovider -n "$workers" --dist loadscope --no-loadscope-reorder \
  --durations=15 "$@"
echo "test command took $(( $(date +%s) - start )) s"
