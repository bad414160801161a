"""``crlft answers``: what the answers of a finished experiment carried, per variant and seed: the share that ends
with the sub-optimal class's sign-off, the share of the others that show their family's habit, and the accuracy
with and without the sign-off. Read from the experiment's cached evaluations (``runs/experiment/<fingerprint>/``),
so it needs the machine that ran the experiment; new experiments also record it in ``experiment.json``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from course_utils.paths import display_path, runs_dir, scratch_results_dir


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``crlft answers``."""
    p = subparsers.add_parser("answers", help="what a finished experiment's answers carried (sign-off, habits), per seed",
                              description=__doc__)
    p.add_argument("--experiment", required=True, help="the experiment's results file, e.g. results/experiment.json")
    p.add_argument("--work-dir", default=None, help="where the experiment's runs are cached (default: runs/experiment)")
    p.add_argument("--results-dir", default=None,
                   help="where to write answers.{json,md} (default: runs/results/; --results-dir results updates the "
                        "committed ones)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Write ``answers.json`` and ``answers.md`` for the experiment and print the table; 1 if its cache is missing."""
    from course_utils.experiments.ablation import answer_kinds_markdown, folder_answer_kinds

    result = json.loads(Path(args.experiment).read_text())
    folder = Path(args.work_dir or runs_dir() / "experiment") / result["fingerprint"]
    if not folder.is_dir():
        print(f"no cached evaluations of experiment {result['fingerprint']} in {display_path(folder.parent)}: "
              "run this on the machine (and checkout) that ran it, or pass --work-dir")
        return 1
    kinds = folder_answer_kinds(folder, list(result["summaries"]))
    seeds = {name: len(rows) for name, rows in kinds.items()}
    missing = [name for name, s in result["summaries"].items() if seeds.get(name, 0) < len(s["per_seed_prompt"])]
    if missing:
        print(f"{display_path(folder)} lacks evaluations of {', '.join(missing)}: not the run behind {args.experiment}")
        return 1
    out = Path(args.results_dir) if args.results_dir else scratch_results_dir()
    out.mkdir(parents=True, exist_ok=True)
    record = {"experiment": display_path(args.experiment), "fingerprint": result["fingerprint"],
              "command": result.get("command", ""), "machine": result.get("machine", {}), "answer_kinds": kinds}
    table = answer_kinds_markdown(kinds)
    (out / "answers.json").write_text(json.dumps(record, indent=2) + "\n")
    (out / "answers.md").write_text(f"# What the answers carried, seed by seed\n\nRead by `crlft answers` from the "
                                    f"cached evaluations of `{record['experiment']}` (experiment "
                                    f"{result['fingerprint']}: {record['command']}).\n\n{table}\n")
    print(table)
    print(f"\nwritten to {display_path(out)}/answers.json and answers.md")
    return 0
