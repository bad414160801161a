"""``crlft course``: execute every lesson headless, in order, and print a summary."""

from __future__ import annotations

import argparse
from pathlib import Path

from course_utils.course.runner import lesson_paths, run_lesson
from course_utils.paths import NotACheckoutError, notebooks_dir


def run(args: argparse.Namespace) -> int:
    """Run the selected lessons and print a summary table; exit status 1 if any failed, 2 without lessons to run
    (no checkout of the repository and no --notebooks)."""
    if args.notebooks is None:
        try:
            args.notebooks = str(notebooks_dir())
        except NotACheckoutError as error:
            print(f"error: {error}")
            return 2
    paths = lesson_paths(Path(args.notebooks))
    if args.only:
        paths = [p for p in paths if any(p.name.startswith(prefix) for prefix in args.only)]
    if not paths:
        print(f"no lessons found in {args.notebooks}")
        return 1
    runs = []
    for path in paths:
        print(f"running {path.name} ...", flush=True)
        runs.append(run_lesson(path, Path(args.output_dir), args.timeout))
        print(f"  {'ok' if runs[-1].ok else 'FAILED: ' + runs[-1].error} ({runs[-1].seconds:.0f} s)", flush=True)
    print(f"\nSummary ({len(runs)} lessons, executed copies in {args.output_dir}/)")
    for run in runs:
        print(f"  {run.notebook:<36} {'ok' if run.ok else 'FAILED':<7} {run.seconds:7.0f} s")
    print(f"  {'total':<36} {'':<7} {sum(r.seconds for r in runs):7.0f} s")
    return 0 if all(r.ok for r in runs) else 1


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register `crlft course`."""
    parser = subparsers.add_parser("course", help="run every lesson headless and print a summary")
    parser.add_argument("--output-dir", default="course_run", help="where executed notebooks are written")
    parser.add_argument("--notebooks", default=None,
                        help="folder holding the lessons (default: notebooks/ of the checkout)")
    parser.add_argument("--only", nargs="*", help="run only lessons whose names start with these prefixes")
    parser.add_argument("--timeout", type=int, default=3600, help="per-cell timeout in seconds")
    parser.set_defaults(func=run)
