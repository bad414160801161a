"""``crlft experiment``: the headline ablation (base, SFT, expert-only SFT, C-RLFT and its ablations)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from course_utils.data.regimes import REGIMES
from course_utils.experiments import ablation as experiment
from course_utils.experiments.ablation import (
    ABLATION_VARIANTS, VARIANTS, ExperimentConfig, results_markdown, run_experiment,
)
from course_utils.paths import display_path, scratch_results_dir


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register `crlft experiment`."""
    p = subparsers.add_parser(
        "experiment", help="the headline ablation: base, SFT, expert-only SFT, C-RLFT and its ablations",
        description=experiment.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--variants", default=",".join(ABLATION_VARIANTS),
                   help="comma-separated subset of: " + ", ".join(VARIANTS) + " (default: all but kto)")
    add_common_arguments(p)
    p.add_argument("--expert-share", type=float, default=None,
                   help="regenerate the training data with this share of expert conversations (default: shipped)")
    p.add_argument("--tuned", default=None,
                   help="a `crlft tune` result (results/validation/<regime>.json): each method trains with the learning "
                        "rate and length chosen there; its regime, schedule length and step size are taken from it")
    p.set_defaults(func=run)


def add_common_arguments(p: argparse.ArgumentParser) -> None:
    """The settings `crlft experiment` and `crlft sweep` share."""
    p.add_argument("--seeds", default="0", help="comma-separated seeds, e.g. 0,1,2")
    p.add_argument("--max-steps", type=int, default=ExperimentConfig.max_steps)
    lr = ExperimentConfig.learning_rate  # None: the profile's
    lr_default = "the profile's" if lr is None else f"{lr:g}"
    p.add_argument("--learning-rate", type=float, default=lr,
                   help=f"(default {lr_default}, chosen on the validation prompts)")
    p.add_argument("--profile", default=None, help="hardware profile (default: COURSE_PROFILE or detected)")
    p.add_argument("--split", choices=("eval", "val"), default="eval",
                   help="score on the held-out prompts (eval, for reporting) or the validation prompts (val, for "
                        "choosing steps, learning rate and data knobs)")
    p.add_argument("--eval-limit", type=int, default=ExperimentConfig.eval_limit,
                   help="family-balanced subset of the prompts (0: all of them)")
    p.add_argument("--max-new-tokens", type=int, default=ExperimentConfig.max_new_tokens)
    p.add_argument("--batch-size", type=int, default=ExperimentConfig.batch_size)
    p.add_argument("--work-dir", default=None, help="runs and evaluations (default runs/experiment)")
    p.add_argument("--results-dir", default=None,
                   help="where to write the results (default runs/results/, a scratch folder under the runs folder; "
                        "give --results-dir results to update the committed results/)")
    p.add_argument("--threads", type=int, default=None,
                   help="torch CPU threads; use 1 on a CPU shared with other jobs (oversubscribed OpenMP threads "
                        "spin and can run 10x slower)")
    p.add_argument("--workers", type=int, default=1,
                   help="parallel processes for independent trainings, the CPU threads split between them (2 on a "
                        "2-core CPU: 1.23x the throughput of one process; on a GPU keep 1)")
    p.add_argument("--fresh", action="store_true",
                   help="ignore finished trainings and evaluations of these settings and redo them")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--note", default="", help="a remark recorded with the results (e.g. how the run was split)")
    p.add_argument("--regime", choices=tuple(REGIMES), default=None,
                   help="train and score on a data regime (data/<regime>/: " + "; ".join(
                       f"{r.name}: {r.description}" for r in REGIMES.values()).replace("%", "%%") + "); default: the shipped lesson data")
    p.add_argument("--grad-accum", type=int, default=None,
                   help="micro-batches per optimiser step (default: the profile's); the C-RLFT loss is normalised over "
                        "the whole step")
    p.add_argument("--probe", action="store_true",
                   help="also run the likelihood probe on every model (log p(correct) - log p(with the sign-off / habit))")
    p.add_argument("--eval-steps", default="",
                   help="comma-separated steps whose checkpoints are also scored (validation learning curves)")
    p.add_argument("--kto-beta", type=float, default=None,
                   help="KTO's beta (default 0.1, TRL's and the KTO paper's); the kto variant only")
    p.add_argument("--kto-desirable-weight", type=float, default=None,
                   help="KTO's desirable_weight (default: balanced from the data by the KTO paper's rule, 9 at "
                        "80 desirable / 720 undesirable); the kto variant only")


def config_from_args(args: argparse.Namespace, variants: tuple[str, ...]) -> ExperimentConfig:
    """The `ExperimentConfig` the shared arguments describe (after applying --threads)."""
    if args.threads:
        torch.set_num_threads(args.threads)
    return ExperimentConfig(
        variants=variants, seeds=tuple(int(s) for s in args.seeds.split(",")), max_steps=args.max_steps,
        learning_rate=args.learning_rate, profile=args.profile, eval_limit=args.eval_limit or None, split=args.split,
        expert_share=getattr(args, "expert_share", None), max_new_tokens=args.max_new_tokens,
        batch_size=args.batch_size, regime=args.regime, grad_accum=args.grad_accum,
        eval_steps=tuple(int(s) for s in args.eval_steps.split(",") if s.strip()),
        tuned=getattr(args, "tuned_settings", ()), probe=args.probe,
        kto_beta=args.kto_beta, kto_desirable_weight=args.kto_desirable_weight,
    )


def apply_tuning(args: argparse.Namespace, tuning: dict) -> None:
    """Take a `crlft tune` result's choices (per method: learning rate, step) and the settings they were chosen
    under (regime, schedule length, micro-batches per step, KTO's knobs); a contradicting --regime or KTO knob is
    an error."""
    if args.regime not in (None, tuning["regime"]):
        raise SystemExit(f"--tuned was chosen on the {tuning['regime']!r} regime, not on {args.regime!r}")
    for knob in ("kto_beta", "kto_desirable_weight"):
        chosen = tuning["config"].get(knob)
        if getattr(args, knob) not in (None, chosen):
            raise SystemExit(f"--tuned was chosen with {knob} {chosen}, not {getattr(args, knob)}")
        setattr(args, knob, chosen)
    args.regime, args.max_steps = tuning["regime"], tuning["config"]["max_steps"]
    args.grad_accum = tuning["config"]["grad_accum"]
    args.tuned_settings = tuple((VARIANTS[v].method, c["learning_rate"], c["step"]) for v, c in tuning["chosen"].items())


def command_line(args: argparse.Namespace, name: str) -> str:
    """The command as typed (the --note text elided: it is recorded on its own)."""
    argv = list(sys.argv[1:]) if sys.argv and name in sys.argv else [name]
    if "--note" in argv:
        i = argv.index("--note")
        argv[i + 1 : i + 2] = ["..."]
    return "crlft " + " ".join(argv)


def run(args: argparse.Namespace) -> int:
    """Run (or resume) the experiment, write its results (``--results-dir``, default ``runs/results/``; the
    committed ``results/`` only when asked for) and print its table."""
    variants = tuple(v.strip() for v in args.variants.split(",") if v.strip())
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        raise SystemExit(f"unknown variant(s) {unknown}; choose from {list(VARIANTS)}")
    if args.tuned:
        apply_tuning(args, json.loads(Path(args.tuned).read_text()))
    config = config_from_args(args, variants)
    command = command_line(args, "experiment")
    out = args.results_dir or scratch_results_dir()
    result = run_experiment(config, args.work_dir, out, not args.no_progress, command, args.note, fresh=args.fresh,
                            workers=args.workers)
    print(results_markdown(result))
    print(f"\nresults written to {display_path(out)}/")
    return 0
