"""``crlft reset``: delete the course's training runs and cached evaluations (everything under the runs folder).

Lists what it would delete and changes nothing unless ``--yes`` is given. It never touches anything outside
``course_utils.paths.runs_dir()`` (``$CRLFT_RUNS_DIR``, else ``runs/`` of the checkout)."""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from course_utils.paths import runs_dir


def _size(path: Path) -> int:
    """Bytes under `path` (a file or a folder)."""
    if path.is_file() or path.is_symlink():
        return path.lstat().st_size
    return sum(p.lstat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``crlft reset``."""
    parser = subparsers.add_parser("reset", help="delete training runs and cached evaluations (asks for --yes)",
                                   description=__doc__)
    parser.add_argument("--yes", action="store_true", help="really delete (without it: only list)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """List the entries of the runs folder; delete them with ``--yes``. Exit status 0, or 1 when refused."""
    root = runs_dir()
    entries = sorted(root.iterdir()) if root.is_dir() else []
    if not entries:
        print(f"nothing to delete: {root} is empty or absent")
        return 0
    print(f"{'deleting' if args.yes else 'would delete'} under {root}:")
    for entry in entries:
        print(f"  {entry.name}{'/' if entry.is_dir() else ''}  ({_size(entry) / 2**20:.1f} MiB)")
    if not args.yes:
        print("nothing deleted: run `crlft reset --yes` to delete these")
        return 1
    resolved_root = root.resolve()
    for entry in entries:
        if entry.is_symlink() or entry.is_file():
            entry.unlink()  # a link is removed, never followed out of the runs folder
        elif entry.resolve().parent == resolved_root:
            shutil.rmtree(entry)
    print(f"deleted {len(entries)} entr{'y' if len(entries) == 1 else 'ies'}; {root} is kept (empty)")
    return 0
