"""Test-run layout for `pytest -n 2 --dist loadscope` (scripts/test.sh): every notebook's cells run on one worker,
in order, in one kernel; lesson 04 runs after lesson 03 on the same worker (it reuses lesson 03's adapter), and the
solutions of lessons 05 and 07 after their lessons; the notebooks that took longest in their committed run start
first, and the unit tests (one scope each) fill the gaps."""

from __future__ import annotations

import json
from datetime import datetime
from functools import lru_cache
from pathlib import Path

import pytest

# notebook -> the notebook whose outputs it reuses (lesson 05's solutions reuse its reduced experiment, lesson 07's
# its short KTO run; on two workers at once they would train into the same folder)
SAME_WORKER = {"04_quantized_inference": "03_crlft_qlora", "05_solutions": "05_evaluation",
               "07_solutions": "07_crlft_beside_kto"}


def notebook_scope(nodeid: str) -> str | None:
    """The worker scope of a notebook cell's test id (None for other tests)."""
    path = nodeid.split("::", 1)[0]
    if not path.endswith(".ipynb"):
        return None
    stem = Path(path).stem
    return SAME_WORKER.get(stem, stem)


@lru_cache(maxsize=None)
def recorded_seconds(path: Path) -> float:
    """Seconds the notebook's committed run spent executing cells (from the cells' execution metadata)."""
    total = 0.0
    for cell in json.loads(path.read_text()).get("cells", []):
        timing = cell.get("metadata", {}).get("execution", {})
        if "iopub.execute_input" in timing and "shell.execute_reply" in timing:
            start, end = (datetime.fromisoformat(timing[k].replace("Z", "+00:00"))
                          for k in ("iopub.execute_input", "shell.execute_reply"))
            total += (end - start).total_seconds()
    return total


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Longest notebook scopes first (by their committed run time), then the unit tests in their own order."""
    seconds: dict[str, float] = {}
    for path in {item.path for item in items if item.path.suffix == ".ipynb"}:
        scope = notebook_scope(path.name)
        seconds[scope] = seconds.get(scope, 0.0) + recorded_seconds(path)
    # a stable sort: cells keep their order and lesson 03 stays before lesson 04
    items.sort(key=lambda item: -seconds[notebook_scope(item.path.name)] if item.path.suffix == ".ipynb" else 0.0)


@pytest.hookimpl(optionalhook=True)  # a pytest-xdist hook: unused (and harmless) without pytest-xdist
def pytest_xdist_make_scheduler(config: pytest.Config, log):
    """With `--dist loadscope`: one scope per notebook (lessons 03 and 04 share one), one per other test."""
    if config.getvalue("dist") != "loadscope":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class NotebookScopes(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return notebook_scope(nodeid) or nodeid

    return NotebookScopes(config, log)
