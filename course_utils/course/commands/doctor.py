"""``crlft doctor``: check this machine and print how to fix what is missing."""

from __future__ import annotations

import argparse

from course_utils.course.doctor import format_report, run_checks


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``crlft doctor``."""
    parser = subparsers.add_parser("doctor", help="check this machine and print how to fix what is missing")
    parser.add_argument("--prepare", action="store_true", help="convert the offline model if it is not ready")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print the report; exit status 1 when any check failed."""
    checks = run_checks(prepare=args.prepare)
    print(format_report(checks))
    return 1 if any(not c.ok for c in checks) else 0
