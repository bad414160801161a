"""``crlft tune``: every method of the comparison tuned alike on the validation prompts (learning rate x length)."""

from __future__ import annotations

import argparse

from course_utils.course.commands.experiment import add_common_arguments, command_line, config_from_args
from course_utils.data.regimes import REGIMES
from course_utils.experiments import tuning
from course_utils.paths import display_path, scratch_results_dir


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register `crlft tune`."""
    p = subparsers.add_parser("tune", help="validation learning curves: each method at each learning rate, a seed "
                              "kept for choosing", description=tuning.__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--variants", default=",".join(tuning.TUNED_VARIANTS), help="comma-separated variants to tune")
    p.add_argument("--learning-rates", default=",".join(f"{lr:g}" for lr in tuning.LEARNING_RATES),
                   help="comma-separated learning-rate grid")
    add_common_arguments(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run (or resume) the tuning of ``--regime``, write ``<regime>.*`` (into ``--results-dir``, default
    ``runs/results/``; give ``--results-dir results/validation`` for the committed curves) and print them."""
    if args.regime is None:
        raise SystemExit(f"crlft tune needs --regime ({' or '.join(REGIMES)})")
    variants = tuple(v.strip() for v in args.variants.split(",") if v.strip())
    learning_rates = tuple(float(x) for x in args.learning_rates.split(",") if x.strip())
    args.split, args.seeds = "val", str(tuning.TUNING_SEED)
    config = config_from_args(args, variants)
    out = args.results_dir or scratch_results_dir()
    result = tuning.run_tuning(config, learning_rates, args.work_dir, out, not args.no_progress,
                               command_line(args, "tune"), args.workers)
    print(tuning.tuning_markdown(result))
    print(f"results written to {display_path(out)}/")
    return 0
