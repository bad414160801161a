"""``crlft catch-up``: train the adapters that later lessons need, exactly as the lessons do, so that a student who
fell behind can jump ahead.

Lesson 03's C-RLFT run (``runs/lesson03/crlft``, which lesson 04 reuses) with lesson 03's settings
(`course_utils.training.run.LESSON03_RUN`) on the detected profile, resuming whatever is already there (a finished run is
not trained again). Lesson 05's reduced
experiment trains its own short run."""

from __future__ import annotations

import argparse

LESSON_RUNS = ("lesson03",)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``crlft catch-up``."""
    parser = subparsers.add_parser("catch-up", help="train the adapter later lessons need (as lesson 03 does)",
                                   description=__doc__)
    parser.add_argument("--only", nargs="*", choices=LESSON_RUNS,
                        help="train only these lessons' runs (default: all)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Train (or resume) each lesson's run and print what was done."""
    from course_utils.paths import runs_dir
    from course_utils.hardware.profiles import get_profile
    from course_utils.training.run import LESSON03_RUN, lesson03_data, run_training

    profile = get_profile()
    for lesson in LESSON_RUNS:
        if args.only and lesson not in args.only:
            continue
        output_dir = runs_dir() / lesson / "crlft"
        steps = LESSON03_RUN.get("stop_at") or LESSON03_RUN["max_steps"]
        print(f"{lesson}: C-RLFT, profile {profile.name}, {steps} steps -> {output_dir}", flush=True)
        result = run_training("crlft", lesson03_data(), output_dir, profile=profile, resume=True, **LESSON03_RUN)
        done = "already complete" if not result.losses() else f"trained in {result.runtime_s:.0f} s"
        print(f"{lesson}: {result.global_step} steps, {done}"
              + (f" (resumed from {result.resumed_from})" if result.resumed_from else ""), flush=True)
    return 0
