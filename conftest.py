"""Test-run layout for `pytest -n 2 --dist loadgroup` (scripts/test.sh): every notebook's cells stay together on
one worker, in order; lesson 04 runs after lesson 03 on the same worker (it reuses lesson 03's adapter); the
notebooks that took longest in their committed run start first, and the unit tests fill the gaps."""

from __future__ import annotations

import json
from datetime import datetime
from functools import lru_cache
from pathlib import Path

import pytest

SAME_WORKER = {"04_quantized_inference": "03_crlft_qlora"}  # notebook -> the notebook whose outputs it reuses


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


@pytest.hookimpl(tryfirst=True)  # before xdist turns the markers into group names
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Group each notebook's cells (lesson 04 with lesson 03) and put the longest groups first."""
    notebooks = [item for item in items if item.path.suffix == ".ipynb"]
    if not notebooks:
        return
    group_seconds: dict[str, float] = {}
    for path in {item.path for item in notebooks}:
        group = SAME_WORKER.get(path.stem, path.stem)
        group_seconds[group] = group_seconds.get(group, 0.0) + recorded_seconds(path)
    for item in notebooks:
        item.add_marker(pytest.mark.xdist_group(SAME_WORKER.get(item.path.stem, item.path.stem)))
    # a stable sort: cells keep their order, lesson 03 stays before lesson 04, unit tests keep theirs (at the end)
    items.sort(key=lambda item: -group_seconds[SAME_WORKER.get(item.path.stem, item.path.stem)]
               if item.path.suffix == ".ipynb" else 0.0)
