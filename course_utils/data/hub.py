"""Loaders for OpenChat's published ShareGPT data, labeled the same way as the offline dataset.

``openchat/openchat_sharegpt4_dataset`` and ``openchat/openchat_sharegpt_v3`` hold ShareGPT conversations
(``{"id", "items"|"conversations": [{"from", "value"}], "model"}``); OpenChat treats ``model == "Model: GPT-4"``
as expert and everything else as sub-optimal (``OPENCHAT_SHAREGPT_LABEL_CONFIG``). These files are large
(hundreds of MB), so ``load_openchat_sharegpt`` takes a ``limit``. Nothing here runs without the hub except
``load_sharegpt_file``, which reads a local file in the same schema (the tests use a handwritten sample).
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any, Iterable

from course_utils.data.labeling import OPENCHAT_SHAREGPT_LABEL_CONFIG, LabelConfig, label_by_source
from course_utils.data.schema import OnError, read_records

def hub_reachable(host: str = "huggingface.co", timeout: float = 3.0) -> bool:
    """Whether the model hub answers on its HTTPS port within `timeout` seconds."""
    try:
        with socket.create_connection((host, 443), timeout=timeout):
            return True
    except OSError:
        return False


# name -> (hub repository, default data file; None lets `datasets` read the repository's data files).
# OpenChat's data pipeline (`ochat.data.clean_sharegpt`, then `ochat.data.filter_sharegpt`) writes two files:
# `sharegpt_clean.json`, the ~80K cleaned ShareGPT conversations of every model (v2's mixed-quality training set),
# and `sharegpt_gpt4.json`, the ~6K GPT-4 ones filtered from it (v1's expert-only set). C-RLFT needs the mixture.
OPENCHAT_DATASETS: dict[str, tuple[str, str | None]] = {
    "sharegpt4": ("openchat/openchat_sharegpt4_dataset", "sharegpt_clean.json"),
    "sharegpt_v3": ("openchat/openchat_sharegpt_v3", None),
}


def label_sharegpt(
    records: Iterable[Any],
    config: LabelConfig = OPENCHAT_SHAREGPT_LABEL_CONFIG,
    on_error: OnError = "skip",
    limit: int | None = None,
    allow_one_class: bool = False,
):
    """Validate and label ShareGPT records: ``(Dataset, ValidationReport)``; invalid ones are reported.

    Raises ``ValueError`` when every labeled record falls in one class (an expert-only file such as
    ``sharegpt_gpt4.json`` leaves C-RLFT nothing to contrast), unless ``allow_one_class``."""
    if limit is not None:
        records = [r for _, r in zip(range(limit), records)]
    ds, report = label_by_source(records, config, on_error=on_error, return_report=True)
    classes = sorted(set(ds["condition"])) if len(ds) else []
    if len(classes) == 1 and not allow_one_class:
        raise ValueError(f"all {len(ds)} labeled records are {classes[0]!r}: this file has no second class to "
                         "contrast (an expert-only file?); load the mixed file, or pass allow_one_class=True")
    return ds, report


def load_sharegpt_file(path: str | Path, config: LabelConfig = OPENCHAT_SHAREGPT_LABEL_CONFIG,
                       on_error: OnError = "skip", limit: int | None = None, allow_one_class: bool = False):
    """A local ShareGPT ``.json`` (list) or ``.jsonl`` file, labeled: ``(Dataset, ValidationReport)``."""
    return label_sharegpt(read_records(path), config, on_error, limit, allow_one_class)


def load_openchat_sharegpt(
    name: str = "sharegpt4",
    data_files: str | None = None,
    config: LabelConfig = OPENCHAT_SHAREGPT_LABEL_CONFIG,
    on_error: OnError = "skip",
    limit: int | None = 1000,
    check_hub: bool = True,
    allow_one_class: bool = False,
):
    """Download (through ``datasets``) and label one of OpenChat's ShareGPT files.

    ``name`` is a key of ``OPENCHAT_DATASETS`` or a repository id; ``data_files`` overrides the file.
    Raises ``ConnectionError`` when the hub is unreachable (use the offline dataset instead)."""
    import datasets

    repo, default_file = OPENCHAT_DATASETS.get(name, (name, None))
    if check_hub:
        if not hub_reachable():
            raise ConnectionError(f"the Hugging Face hub is unreachable: cannot load {repo}; "
                                  "use the offline dataset (course_utils.data.synth) instead")
    kwargs = {"data_files": data_files or default_file} if (data_files or default_file) else {}
    raw = datasets.load_dataset(repo, split="train", **kwargs)
    if limit is not None:
        raw = raw.select(range(min(limit, len(raw))))
    return label_sharegpt(raw.to_list(), config, on_error, allow_one_class=allow_one_class)
