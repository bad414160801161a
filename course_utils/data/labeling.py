"""Labeling for C-RLFT: every conversation gets a *class* (its source's quality) and a coarse *reward weight*.

Two paths produce the same ``datasets.Dataset`` (columns ``id``, ``messages``, ``condition``, ``weight``,
``source``, ``family``, ``constraints``, ``turn_constraints``, ``score``):

* ``label_by_source``: source -> class -> weight through a ``LabelConfig``. The default follows the paper
  (expert 1.0, sub-optimal 0.1) and OpenChat's ShareGPT convention (``model == "Model: GPT-4"`` is expert).
* ``label_by_score``: for data without a source, any callable scorer ``record -> float`` is thresholded
  into classes (e.g. ``verifiers.pass_fraction``, or a judge model's score).

Constraint lists are stored in the Dataset as JSON text (Arrow cannot hold dicts whose keys differ per
row); ``verifiers.verify`` accepts that text directly.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Sequence

from course_utils.data.conditions import Condition
from course_utils.data.schema import OnError, ValidationReport, validate_records

EXPERT, SUBOPTIMAL = Condition.EXPERT.value, Condition.SUBOPTIMAL.value
#: The per-class rewards of C-RLFT (OpenChat): the default weight labeling writes into each row.
PAPER_CLASS_WEIGHTS: dict[str, float] = {EXPERT: 1.0, SUBOPTIMAL: 0.1}


@dataclass(frozen=True)
class LabelConfig:
    """Which source belongs to which class, and each class's reward weight.

    ``default_class``: the class of a source not listed in ``source_classes``; ``None`` makes an unlisted
    source a validation error ("unknown source").
    """

    source_classes: Mapping[str, str]
    class_weights: Mapping[str, float] = field(default_factory=lambda: dict(PAPER_CLASS_WEIGHTS))
    default_class: str | None = None

    def __post_init__(self) -> None:
        for cls in set(self.source_classes.values()) | ({self.default_class} - {None}):
            if cls not in self.class_weights:
                raise ValueError(f"class {cls!r} has no weight in class_weights {dict(self.class_weights)}")

    @property
    def known_sources(self) -> set[str] | None:
        """The sources validation accepts; ``None`` (anything) when there is a default class."""
        return None if self.default_class is not None else set(self.source_classes)

    def class_of(self, source: str | None) -> str:
        """The class of ``source``; raises ``KeyError`` for an unknown source without a default class."""
        if source in self.source_classes:
            return self.source_classes[source]
        if self.default_class is None:
            raise KeyError(f"unknown source {source!r}")
        return self.default_class

    def weight_of(self, cls: str) -> float:
        """The reward weight of class ``cls``."""
        return float(self.class_weights[cls])


EXPERT_SOURCES = ("gpt-4", "Model: GPT-4")
SUBOPTIMAL_SOURCES = (
    "gpt-3.5-turbo",
    "Model: GPT-3.5",
    "Model: Default (GPT-3.5)",
    "Model: Legacy (GPT-3.5)",
)
DEFAULT_LABEL_CONFIG = LabelConfig(
    source_classes={**{s: EXPERT for s in EXPERT_SOURCES}, **{s: SUBOPTIMAL for s in SUBOPTIMAL_SOURCES}}
)
# OpenChat's ShareGPT convention: "Model: GPT-4" is expert, every other (or empty) model field sub-optimal.
OPENCHAT_SHAREGPT_LABEL_CONFIG = LabelConfig(
    source_classes={"Model: GPT-4": EXPERT, "gpt-4": EXPERT}, default_class=SUBOPTIMAL
)


def _row(record: Mapping[str, Any], condition: str, weight: float, score: float | None) -> dict[str, Any]:
    constraints = record.get("constraints")
    turn_constraints = record.get("turn_constraints")
    return {
        "id": str(record["id"]),
        "messages": [{"role": m["role"], "content": m["content"]} for m in record["messages"]],
        "condition": condition,
        "weight": float(weight),
        "source": record.get("source") or "",
        "family": record.get("family") or "",
        "constraints": constraints if isinstance(constraints, str) else json.dumps(constraints or [], sort_keys=True),
        "turn_constraints": turn_constraints
        if isinstance(turn_constraints, str)
        else json.dumps(turn_constraints if turn_constraints is not None else [constraints or []], sort_keys=True),
        "score": float("nan") if score is None else float(score),
    }


def to_dataset(rows: Sequence[Mapping[str, Any]]):
    """A ``datasets.Dataset`` from labeled rows (keeps the column order even when ``rows`` is empty)."""
    from datasets import Dataset

    columns = ["id", "messages", "condition", "weight", "source", "family", "constraints", "turn_constraints", "score"]
    return Dataset.from_dict({c: [r[c] for r in rows] for c in columns})


def label_records_by_source(
    records: Iterable[Any], config: LabelConfig = DEFAULT_LABEL_CONFIG, on_error: OnError = "fail"
) -> tuple[list[dict[str, Any]], ValidationReport]:
    """Validate ``records`` and label each by its source: plain dict rows plus the validation report."""
    good, report = validate_records(records, on_error, "train", config.known_sources, require_source=True)
    rows = []
    for r in good:
        cls = r.get("condition") or config.class_of(r["source"])  # a labeled file keeps its labels
        weight = r["weight"] if r.get("weight") is not None else config.weight_of(cls)
        rows.append(_row(r, cls, weight, r.get("score")))
    return rows, report


def label_by_source(
    records: Iterable[Any],
    config: LabelConfig = DEFAULT_LABEL_CONFIG,
    on_error: OnError = "fail",
    return_report: bool = False,
):
    """Label ``records`` (either layout) by source: ``Dataset`` with ``condition`` and ``weight``.

    With ``return_report=True`` returns ``(dataset, report)``; with ``on_error="fail"`` invalid records raise
    ``DataValidationError`` carrying the report."""
    rows, report = label_records_by_source(records, config, on_error)
    ds = to_dataset(rows)
    return (ds, report) if return_report else ds


def classes_from_score(score: float, thresholds: Sequence[tuple[float, str]]) -> str:
    """The class of ``score``: the first ``(min_score, class)`` in ``thresholds`` (highest first) it reaches."""
    for min_score, cls in thresholds:
        if score >= min_score:
            return cls
    return thresholds[-1][1]


def label_by_score(
    records: Iterable[Any],
    scorer: Callable[[Mapping[str, Any]], float],
    threshold: float = 1.0,
    thresholds: Sequence[tuple[float, str]] | None = None,
    class_weights: Mapping[str, float] = PAPER_CLASS_WEIGHTS,
    on_error: OnError = "fail",
    return_report: bool = False,
):
    """Label ``records`` by a quality score instead of a source.

    ``scorer(record) -> float`` sees the normalised record (``messages``, ``constraints``, ...). A score
    ``>= threshold`` is expert, anything lower sub-optimal; pass ``thresholds=[(min_score, class), ...]``
    (highest first) for more classes. The score is kept in the ``score`` column."""
    if thresholds is None:
        thresholds = [(threshold, EXPERT), (float("-inf"), SUBOPTIMAL)]
    good, report = validate_records(records, on_error, "train")
    rows = []
    for r in good:
        score = float(scorer(r))
        cls = classes_from_score(score, thresholds)
        rows.append(_row(r, cls, class_weights[cls], score))
    ds = to_dataset(rows)
    return (ds, report) if return_report else ds


def summarize(rows: Iterable[Mapping[str, Any]], config: LabelConfig = DEFAULT_LABEL_CONFIG) -> dict[str, Any]:
    """Counts, lengths and pass rates of training records, overall, per source, per class and per family.

    Accepts raw records (classified by ``config``) or labeled rows (their ``condition``). Lengths are in
    words of the assistant turns. Pass = every constraint of every assistant turn passes."""
    from course_utils.data.verifiers import record_passes, word_count

    groups: dict[tuple[str, str], list[tuple[bool, int, bool]]] = defaultdict(list)
    sources: Counter[str] = Counter()
    n = multi = 0
    for r in rows:
        if "condition" in r:
            cls = r["condition"]
        else:
            cls = config.class_of(r.get("source", r.get("model")))
        messages = r["messages"]
        words = sum(word_count(m["content"]) for m in messages if m["role"] == "assistant")
        turns = sum(m["role"] == "assistant" for m in messages)
        has_constraints = bool(r.get("constraints")) and r.get("constraints") != "[]"
        passed = record_passes(r) if has_constraints else False
        groups[(r.get("family") or "-", cls)].append((passed, words, has_constraints))
        sources[r.get("source") or r.get("model") or "-"] += 1
        n += 1
        multi += turns > 1

    def agg(items: list[tuple[bool, int, bool]]) -> dict[str, Any]:
        checked = [p for p, _, c in items if c]
        return {
            "n": len(items),
            "mean_words": sum(w for _, w, _ in items) / len(items) if items else 0.0,
            "pass_rate": sum(checked) / len(checked) if checked else None,
        }

    classes = sorted({c for _, c in groups})
    families = sorted({f for f, _ in groups})
    per_class = {c: agg([x for (f, k), v in groups.items() if k == c for x in v]) for c in classes}
    per_family = {
        f: {c: agg(groups.get((f, c), [])) for c in classes} | {"all": agg([x for (g, _), v in groups.items() if g == f for x in v])}
        for f in families
    }
    return {
        "n": n,
        "multi_turn_share": multi / n if n else 0.0,
        "per_source": dict(sorted(sources.items())),
        "per_class": per_class,
        "class_share": {c: per_class[c]["n"] / n for c in classes} if n else {},
        "per_family": per_family,
    }
