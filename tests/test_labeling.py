"""Labeling: source -> class -> weight (paper defaults, OpenChat's ShareGPT convention) and score thresholds."""

import json
import math

import pytest

from course_utils.data.labeling import (
    DEFAULT_LABEL_CONFIG, OPENCHAT_SHAREGPT_LABEL_CONFIG, LabelConfig, label_by_score, label_by_source, summarize,
)
from course_utils.data.schema import DataValidationError
from course_utils.data.synth import generate
from course_utils.data.verifiers import pass_fraction

QA = [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "A"}]


def test_paper_default_weights_and_contract_columns():
    """Default labeling: expert 1.0, sub-optimal 0.1, and the columns the trainer relies on."""
    ds = label_by_source([
        {"id": "e", "source": "gpt-4", "messages": QA},
        {"id": "s", "source": "gpt-3.5-turbo", "messages": QA},
        {"id": "m", "model": "Model: GPT-4", "conversations": [{"from": "human", "value": "Q"}, {"from": "gpt", "value": "A"}]},
    ])
    assert {"id", "messages", "condition", "weight", "source", "family", "constraints"} <= set(ds.column_names)
    assert ds["condition"] == ["expert", "suboptimal", "expert"] and list(ds["weight"]) == [1.0, 0.1, 1.0]
    assert ds[2]["messages"] == QA


def test_openchat_sharegpt_convention():
    """OpenChat: model == 'Model: GPT-4' is expert, any other model field (even empty) is sub-optimal."""
    cfg = OPENCHAT_SHAREGPT_LABEL_CONFIG
    assert cfg.class_of("Model: GPT-4") == "expert"
    assert cfg.class_of("Model: Default (GPT-3.5)") == cfg.class_of("") == "suboptimal"


def test_unknown_source_fails_or_is_skipped_and_reported():
    """An unknown source is an error under the default config: fail raises, skip reports it."""
    records = [{"id": "x", "source": "mystery", "messages": QA}, {"id": "y", "source": "gpt-4", "messages": QA}]
    with pytest.raises(DataValidationError):
        label_by_source(records)
    ds, report = label_by_source(records, on_error="skip", return_report=True)
    assert ds["id"] == ["y"] and report.issues[0].record_id == "x" and report.issues[0].field == "source"


def test_custom_config_and_weights():
    """Sources, classes and weights are configurable; a class without a weight is refused."""
    cfg = LabelConfig({"human": "expert", "bot": "suboptimal"}, {"expert": 1.0, "suboptimal": 0.3})
    ds = label_by_source([{"id": "1", "source": "bot", "messages": QA}], cfg)
    assert ds["weight"] == [0.3]
    with pytest.raises(ValueError):
        LabelConfig({"a": "gold"})


def test_label_by_score_thresholds():
    """Score labeling: any scorer, thresholded into classes; the score is kept."""
    train, _ = generate()
    records = [{k: v for k, v in r.items() if k != "source"} for r in train[:200]]
    ds = label_by_score(records, pass_fraction, threshold=1.0)
    by_source = {r["id"]: r["source"] for r in train[:200]}
    for row in ds:
        assert row["condition"] == ("expert" if row["score"] >= 1.0 else "suboptimal")
        assert row["weight"] == (1.0 if row["condition"] == "expert" else 0.1)
        if by_source[row["id"]] == "gpt-4":
            assert row["condition"] == "expert"
    loose = label_by_score(records, pass_fraction, threshold=0.5)
    assert loose["condition"].count("expert") >= ds["condition"].count("expert")
    three = label_by_score(records[:20], lambda r: len(r["messages"]),
                           thresholds=[(4, "expert"), (0, "suboptimal")])
    assert set(three["condition"]) <= {"expert", "suboptimal"}


def test_constraints_stored_as_json_text():
    """Constraints survive the Dataset round trip as JSON text (Arrow cannot hold per-row dict shapes)."""
    train, _ = generate()
    ds = label_by_source(train[:50])
    assert json.loads(ds[0]["constraints"]) == train[0]["constraints"]
    assert math.isnan(ds[0]["score"])


def test_summarize_counts_classes_and_families():
    """Stats: class shares, multi-turn share and per-family pass rates add up."""
    train, _ = generate()
    stats = summarize(train, DEFAULT_LABEL_CONFIG)
    assert stats["n"] == len(train)
    assert sum(f["all"]["n"] for f in stats["per_family"].values()) == len(train)
    assert stats["per_class"]["expert"]["pass_rate"] == 1.0
