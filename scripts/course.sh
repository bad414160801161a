#!/usr/bin/env bash
# Set everything up, then run the whole course headless on the offline default; executed notebooks land in
# ./course_run and a summary is printed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. .venv/bin/activate
export COURSE_PROFILE=${COURSE_PROFILE:-cpu}
crlft course --output-dir course_run "$@"
