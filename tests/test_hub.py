"""ShareGPT loaders: OpenChat's data is labeled like ours; tested offline on a handwritten sample."""

from pathlib import Path

import pytest

from course_utils.data.hub import load_openchat_sharegpt, load_sharegpt_file
from course_utils.data.schema import read_records

SAMPLE = Path(__file__).parent / "fixtures" / "sharegpt_sample.json"


def test_sample_is_labeled_with_openchat_convention():
    """GPT-4 conversations become expert (1.0), the rest sub-optimal (0.1); invalid ones are reported."""
    ds, report = load_sharegpt_file(SAMPLE)
    assert ds["id"] == ["sg-1", "sg-2", "sg-3", "sg-4"]
    assert ds["condition"] == ["expert", "suboptimal", "suboptimal", "expert"]
    assert list(ds["weight"]) == [1.0, 0.1, 0.1, 1.0]
    assert ds[1]["messages"][0] == {"role": "system", "content": "You are a helpful assistant."}
    assert {(i.record_id, i.field) for i in report.issues} == {("sg-5", "conversations[1].from"), ("sg-6", "conversations[1].value")}


def test_hub_loader_uses_datasets_and_labels(monkeypatch):
    """The hub path goes through datasets.load_dataset with OpenChat's file, then the same labeling."""
    import datasets
    from course_utils.data.schema import read_records

    calls = {}

    def fake_load_dataset(repo, split, **kwargs):
        calls.update(repo=repo, split=split, **kwargs)
        return datasets.Dataset.from_list([r for r in read_records(SAMPLE) if r["id"] in ("sg-1", "sg-2")])

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    ds, report = load_openchat_sharegpt("sharegpt4", check_hub=False, limit=10)
    assert calls == {"repo": "openchat/openchat_sharegpt4_dataset", "split": "train", "data_files": "sharegpt_clean.json"}
    assert ds["condition"] == ["expert", "suboptimal"] and report.ok


def test_unreachable_hub_raises_a_clear_error(monkeypatch):
    """Without the hub the loader says so instead of hanging or failing obscurely."""
    import course_utils.data.hub as hub

    monkeypatch.setattr(hub, "hub_reachable", lambda *a, **k: False)
    with pytest.raises(ConnectionError, match="offline dataset"):
        load_openchat_sharegpt("sharegpt_v3")


def test_a_file_with_one_class_is_refused_unless_asked():
    """An expert-only file (OpenChat's `sharegpt_gpt4.json`) is not silently taken as a mixed-quality set."""
    from course_utils.data.hub import label_sharegpt

    gpt4_only = [r for r in read_records(SAMPLE) if r.get("model") == "Model: GPT-4"]
    assert gpt4_only
    with pytest.raises(ValueError, match="no second class"):
        label_sharegpt(gpt4_only)
    ds, _ = label_sharegpt(gpt4_only, allow_one_class=True)
    assert set(ds["condition"]) == {"expert"}
