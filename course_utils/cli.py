"""The `crlft` command line. Each sub-command lives in the module that owns its logic; that module
exposes `add_parser(subparsers)`, which registers the command and sets `func` (returning an exit code)."""

from __future__ import annotations

import argparse
import importlib
import sys

# Modules that contribute sub-commands, in the order `crlft --help` lists them.
COMMAND_MODULES: tuple[str, ...] = (
    "course_utils.doctor",
    "course_utils.data_cli",
    "course_utils.course_runner",
    "course_utils.inference",
    "course_utils.experiment",
    "course_utils.training",
)


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every registered sub-command."""
    parser = argparse.ArgumentParser(prog="crlft", description="crlft-course command line")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse `argv` and run the chosen sub-command; returns its exit status."""
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
