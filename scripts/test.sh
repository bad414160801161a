#!/usr/bin/env bash
# Set everything up, then run the unit tests and execute every lesson under nbval on the `cpu` profile.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
bash scripts/setup.sh
. .venv/bin/activate
export COURSE_PROFILE=cpu PYTHONHASHSEED=0 TOKENIZERS_PARALLELISM=false
python -m pytest tests notebooks solutions --nbval --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg \
  --nbval-cell-timeout 1800 -p no:cacheprovider --durations=15 "$@"
echo "test command took $(( $(date +%s) - start )) s"
