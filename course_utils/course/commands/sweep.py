"""``crlft sweep``: the expert-share sweep (SFT on the expert slice, SFT on the mixture and C-RLFT at several
shares of expert data)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from course_utils.experiments import sweep
from course_utils.course.commands.experiment import add_common_arguments, command_line, config_from_args
from course_utils.paths import display_path, scratch_results_dir


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register `crlft sweep`."""
    p = subparsers.add_parser("sweep", help="the expert-share sweep: when does C-RLFT pay, when does expert data suffice",
                              description=sweep.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--shares", default=",".join(f"{s:g}" for s in sweep.SHARES),
                   help="comma-separated shares of expert conversations, e.g. 0.02,0.1,0.4")
    p.add_argument("--extend", action="store_true",
                   help="keep the shares of the existing sweep.json in --results-dir that this run does not redo "
                        "(same settings required; each run's command, time and code fingerprint are recorded)")
    add_common_arguments(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run (or resume) the sweep, write ``sweep.*`` (into ``--results-dir``, default ``runs/results/``; the
    committed ``results/`` only when asked for) and print its table."""
    shares = tuple(float(s) for s in args.shares.split(",") if s.strip())
    if not shares or not all(0 < s < 1 for s in shares):
        raise SystemExit("--shares: give shares between 0 and 1, e.g. 0.02,0.1,0.4")
    config = config_from_args(args, sweep.SWEEP_VARIANTS)
    out = Path(args.results_dir) if args.results_dir else scratch_results_dir()
    earlier = None
    if args.extend:
        if not (out / "sweep.json").exists():
            raise SystemExit(f"--extend: there is no {display_path(out / 'sweep.json')} to extend (the committed sweep "
                             "is extended with --results-dir results)")
        earlier = json.loads((out / "sweep.json").read_text())
    result = sweep.run_sweep(config, shares, args.work_dir, out, not args.no_progress, command_line(args, "sweep"),
                             args.note, args.fresh, extend=earlier, workers=args.workers)
    print(sweep.sweep_markdown(result))
    print(f"\nresults written to {display_path(out)}/")
    return 0
