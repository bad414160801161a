"""The one way files of conversations reach the course: read, validate (record and field named), label.

The shipped files (``train.jsonl``, ``eval.jsonl``, ``val.jsonl``, ``facts.json``) live in ``data/`` of the repository.
A checkout (an editable install, Colab's clone) reads them there; a wheel carries them as the package data
``course_utils/shipped_data/`` (pyproject.toml maps ``data/`` to it), which a plain ``pip install .`` reads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from datasets import Dataset

from course_utils import paths
from course_utils.data.labeling import DEFAULT_LABEL_CONFIG, LabelConfig, label_by_source
from course_utils.data.schema import read_records, validate_records
from course_utils.paths import display_path

SHIPPED_FILES = ("train.jsonl", "eval.jsonl", "val.jsonl", "facts.json")
PROMPT_SPLITS = ("eval", "val")  # held-out evaluation prompts; validation prompts (for choosing knobs)
INSTALLED_DATA = "shipped_data"  # the folder of the shipped files inside an installed (non-editable) package


def data_dir() -> Path:
    """The folder of the shipped files: ``data/`` of the checkout when the package runs from one, else the copy
    installed with the package (``course_utils/shipped_data/``)."""
    if paths.in_checkout():
        return paths.REPO_ROOT / "data"
    return Path(__file__).resolve().parents[1] / INSTALLED_DATA


def shipped_path(name: str) -> Path:
    """Path of one shipped file (`train.jsonl`, `eval.jsonl`, `val.jsonl` or `facts.json`)."""
    if name not in SHIPPED_FILES:
        raise ValueError(f"unknown shipped file {name!r}; choose one of {', '.join(SHIPPED_FILES)}")
    return data_dir() / name


def load_shipped(split: str = "train") -> list[dict[str, Any]]:
    """The shipped ``train``, ``eval`` or ``val`` records, validated, as plain dicts."""
    kind = "train" if split == "train" else "prompts"
    good, _ = validate_records(read_records(shipped_path(f"{split}.jsonl")), "fail", kind)
    return good


def load_train_dataset(path: str | Path | None = None, config: LabelConfig = DEFAULT_LABEL_CONFIG) -> Dataset:
    """Labeled training conversations as a ``Dataset`` (``id``, ``messages``, ``condition``, ``weight``, ...).

    Default: the shipped ``train.jsonl``. Records are validated (any problem raises ``DataValidationError``
    naming the record and field); a file that already carries ``condition``/``weight`` keeps them, otherwise
    each record is labeled by its source with `config`."""
    path = Path(path) if path is not None else shipped_path("train.jsonl")
    return label_by_source(read_records(path), config, on_error="fail")


def load_eval_set(path: str | Path | None = None, limit: int | None = None, split: str = "eval") -> list[dict[str, Any]]:
    """Prompts (``id``, ``family``, ``messages``, ``constraints``), validated, in file order.

    Default: the shipped held-out evaluation prompts (``split="eval"``, for reporting only); ``split="val"``: the
    shipped validation prompts, on which steps, learning rates and data knobs are chosen. Both use entities that
    occur neither in training nor in the other split. With `limit`, a family-balanced subset: families are taken
    in turn (round robin, file order within a family) so that a reduced run still covers every family."""
    if split not in PROMPT_SPLITS:
        raise ValueError(f"unknown prompt split {split!r}; choose one of {', '.join(PROMPT_SPLITS)}")
    path = Path(path) if path is not None else shipped_path(f"{split}.jsonl")
    records, _ = validate_records(read_records(path), "fail", "prompts", source_name=display_path(path))
    if limit is None or limit >= len(records):
        return records
    queues: dict[str, list[int]] = {}
    for index, record in enumerate(records):
        queues.setdefault(record.get("family", "all"), []).append(index)
    picked: list[int] = []
    while len(picked) < limit:
        for queue in queues.values():
            if queue and len(picked) < limit:
                picked.append(queue.pop(0))
    return [records[i] for i in sorted(picked)]
