"""``crlft compare``: C-RLFT beside KTO and filtered SFT on the same labels, per data regime, from finished
experiments (lesson 07); it trains nothing."""

from __future__ import annotations

import argparse

from course_utils.course.commands.experiment import command_line
from course_utils.experiments import alternatives
from course_utils.paths import display_path, scratch_results_dir


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register `crlft compare`."""
    p = subparsers.add_parser("compare", help="C-RLFT beside KTO and filtered SFT, per regime, from finished experiments",
                              description=alternatives.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--regime", nargs="+", action="append", required=True, metavar=("NAME", "RESULTS_JSON"),
                   help="a regime's name and its experiments' results files, e.g. --regime premise "
                        "results/experiment.json results/kto/premise/experiment.json (repeat per regime)")
    p.add_argument("--results-dir", default=None,
                   help="where alternatives.* go (default: runs/results/; give results/ for the committed ones)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Compare, write ``alternatives.*`` and print the markdown."""
    regimes = {}
    for name, *paths in args.regime:
        if not paths:
            raise SystemExit(f"--regime {name}: name at least one experiment results file")
        if name in regimes:
            raise SystemExit(f"--regime {name} given twice")
        regimes[name] = paths
    try:
        result = alternatives.compare(regimes, command_line(args, "compare"))
    except ValueError as err:
        raise SystemExit(str(err)) from err
    out = alternatives.write_alternatives(result, args.results_dir or scratch_results_dir())
    print(alternatives.alternatives_markdown(result))
    print(f"results written to {display_path(out)}/")
    return 0
