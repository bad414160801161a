"""Write the "Open in Colab" badge and the install cell into every lesson, from `course_utils.course.colab`.

In each `notebooks/*.ipynb` (and `solutions/*.ipynb` when that folder exists) it replaces the badge in the first
markdown cell (inserting it under the title when missing) and the source of the install cell, the first code cell
that mentions `google.colab` (inserting one after the first markdown cell when missing). Outputs and every other
cell are left as they are.

Usage: python scripts/sync_notebooks.py [--check] [--root DIR]
  --check  change nothing; list the notebooks that disagree and exit 1 if any does
  --root   the repository to work on (default: this checkout)"""

from __future__ import annotations

import argparse
import json
import uuid
from pathlib import Path

from course_utils.course.colab import BADGE_PATTERN, badge_markdown, install_cell_source

ROOT = Path(__file__).resolve().parents[1]


def notebook_paths(root: Path) -> list[Path]:
    """The lessons (and solutions, if any) under `root`, sorted."""
    return sorted(root.glob("notebooks/*.ipynb")) + sorted(root.glob("solutions/*.ipynb"))


def _text(cell: dict) -> str:
    """A cell's source as one string (notebooks store it as a string or a list of lines)."""
    return "".join(cell["source"])


def _set_text(cell: dict, text: str) -> None:
    """Store `text` as the cell's source, one list item per line as Jupyter writes it."""
    cell["source"] = text.splitlines(keepends=True)


def _with_badge(text: str, badge: str) -> str:
    """`text` with its Colab badge replaced by `badge`, or with `badge` added under its first line (the title)."""
    if BADGE_PATTERN.search(text):
        return BADGE_PATTERN.sub(lambda _: badge, text, count=1)
    title, _, rest = text.partition("\n")
    return "\n\n".join(part for part in (title, badge, rest.lstrip("\n")) if part)


def sync(notebook: dict, name: str, folder: str = "notebooks") -> bool:
    """Bring the badge and the install cell of `notebook` (the JSON of `name`) up to date; True if it changed."""
    cells = notebook["cells"]
    intro = next((c for c in cells if c["cell_type"] == "markdown"), None)
    if intro is None:
        raise ValueError(f"{name}: no markdown cell to hold the Colab badge")
    changed = False
    text = _text(intro)
    if (new_text := _with_badge(text, badge_markdown(name, folder))) != text:
        _set_text(intro, new_text)
        changed = True
    source = install_cell_source()
    install = next((c for c in cells if c["cell_type"] == "code" and "google.colab" in _text(c)), None)
    if install is None:
        install = {"cell_type": "code", "execution_count": None, "id": uuid.uuid4().hex[:8], "metadata": {},
                   "outputs": [], "source": []}
        cells.insert(cells.index(intro) + 1, install)
    if _text(install) != source:
        _set_text(install, source)
        changed = True
    return changed


def main(argv: list[str] | None = None) -> int:
    """Sync (or with --check only compare) every notebook; exit status 1 when --check finds a difference."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="list the notebooks that disagree, change nothing")
    parser.add_argument("--root", type=Path, default=ROOT, help="the repository to work on")
    args = parser.parse_args(argv)
    stale = []
    for path in notebook_paths(args.root):
        notebook = json.loads(path.read_text(encoding="utf-8"))
        if not sync(notebook, path.name, path.parent.name):
            continue
        stale.append(path)
        if not args.check:
            path.write_text(json.dumps(notebook, indent=1, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")
    if args.check and stale:
        print("Out of date (run python scripts/sync_notebooks.py):")
        print("\n".join(f"  {path.relative_to(args.root)}" for path in stale))
        return 1
    for path in stale:
        print(f"updated {path.relative_to(args.root)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
