"""The GPU check's plumbing, dry-run on the CPU, so that the one-run GPU verification cannot rot between GPU runs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_gpu_check_dry_run_records_every_part(tmp_path):
    """`benchmarks/gpu_check.py --dry-run` runs every part (lessons, shapes, the untied row, the ablation) through the
    same code as on a GPU and records real figures for each."""
    out = tmp_path / "gpu"
    done = subprocess.run([sys.executable, str(REPO / "benchmarks" / "gpu_check.py"), "--dry-run", "--out", str(out)],
                          capture_output=True, text=True, timeout=900)
    report = json.loads((out / "gpu_check.json").read_text())
    failed = {k: v.get("error") for k, v in report["parts"].items() if not v["ok"]}
    assert done.returncode == 0 and not failed, (failed, done.stdout[-3000:], done.stderr[-3000:])
    parts = {k: v["result"] for k, v in report["parts"].items()}
    assert set(parts) == {"lessons", "shapes", "untied_end_of_turn_row", "ablation"}
    for run in parts["lessons"].values():
        assert all(row["ok"] for row in run["lessons"]) and run["adapter"]["prompts"] == 2
    assert parts["shapes"]["tiny"]["rc"] == 0 and parts["shapes"]["tiny"]["runs"][0]["tokens_per_s"] > 0
    assert parts["untied_end_of_turn_row"]["passed"]
    assert set(parts["ablation"]["variants"]) == {"crlft"}
    assert report["machine"]["cpu"] and report["dry_run"]


def test_gpu_check_starts_no_part_past_its_time_budget(tmp_path):
    """`--budget-min` records the parts it did not start as skipped (a lent machine's call has a hard limit)."""
    out = tmp_path / "gpu"
    subprocess.run([sys.executable, str(REPO / "benchmarks" / "gpu_check.py"), "--dry-run", "--out", str(out),
                    "--parts", "shapes,ablation", "--budget-min", "0"], capture_output=True, text=True, timeout=300)
    parts = json.loads((out / "gpu_check.json").read_text())["parts"]
    assert {name: part.get("skipped", "")[:11] for name, part in parts.items()} == {"shapes": "time budget",
                                                                                    "ablation": "time budget"}
