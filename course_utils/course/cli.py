"""The `crlft` command line. Each sub-command is a thin module of `course_utils.course.commands` that exposes
`add_parser(subparsers)`, which registers the command and sets `func` (returning an exit code).

Only the module of the command being run is imported, so `crlft data stats` does not pay for torch."""

from __future__ import annotations

import argparse
import importlib
import sys

# Sub-command -> the module that registers it, in the order `crlft --help` lists them.
COMMANDS: dict[str, str] = {
    "doctor": "course_utils.course.commands.doctor",
    "data": "course_utils.course.commands.data",
    "train": "course_utils.course.commands.train",
    "chat": "course_utils.course.commands.chat",
    "tune": "course_utils.course.commands.tune",
    "experiment": "course_utils.course.commands.experiment",
    "sweep": "course_utils.course.commands.sweep",
    "answers": "course_utils.course.commands.answers",
    "compare": "course_utils.course.commands.compare",
    "course": "course_utils.course.commands.course",
    "reset": "course_utils.course.commands.reset",
    "catch-up": "course_utils.course.commands.catch_up",
}


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The top-level parser: with the sub-command of `argv` only, or every sub-command (for help and errors)."""
    parser = argparse.ArgumentParser(prog="crlft", description="crlft-course command line")
    subparsers = parser.add_subparsers(dest="command", required=True)
    command = argv[0] if argv else None
    modules = [COMMANDS[command]] if command in COMMANDS else list(dict.fromkeys(COMMANDS.values()))
    for name in modules:
        importlib.import_module(name).add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse `argv` and run the chosen sub-command; returns its exit status."""
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(argv).parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
