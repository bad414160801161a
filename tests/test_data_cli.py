"""`crlft data` commands: exit codes and what they print."""

import json
from pathlib import Path

import pytest

from course_utils.course import cli
from course_utils.course.commands.data import main
from course_utils.data.loaders import data_dir

FIXTURES = Path(__file__).parent / "fixtures"


def test_validate_shipped_files_exit_zero(capsys):
    """`crlft data validate` exits 0 on every shipped file."""
    for name in ("train.jsonl", "eval.jsonl", "facts.json"):
        assert main(["data", "validate", str(data_dir() / name)]) == 0, name
    assert "0 invalid" in capsys.readouterr().out


def test_validate_malformed_exits_nonzero_naming_record_and_field(capsys):
    """Malformed input: exit 1, each problem named by record and field, good records listed as OK."""
    assert main(["data", "validate", str(FIXTURES / "malformed.jsonl")]) == 1
    out = capsys.readouterr().out
    assert "record 2 (id 'bad-role'): messages[0].role: unknown role 'robot'" in out
    assert "record 5 (id 'non-string'): messages[1].content: content is int" in out
    assert "OK    record 0 (id 'good-1')" in out and "OK    record 9 (id 'good-2')" in out


def test_validate_missing_file_and_facts(tmp_path, capsys):
    """A missing file exits 2; a broken fact table is reported."""
    assert main(["data", "validate", str(tmp_path / "nope.jsonl")]) == 2
    bad = tmp_path / "facts.json"
    bad.write_text('{"kind": "facts", "fields": ["capital"], "facts": {"X": {"capital": ""}}}')
    assert main(["data", "validate", str(bad)]) == 1
    assert "facts.capital" in capsys.readouterr().out


def test_stats_prints_pass_rates_per_class_and_family(capsys):
    """`crlft data stats` shows expert 100 %, sub-optimal 50 %, and one row per family."""
    assert main(["data", "stats", str(data_dir() / "train.jsonl")]) == 0
    out = capsys.readouterr().out
    assert "class expert      n=240   share= 10.0%  pass=100.0%" in out
    assert "class suboptimal  n=2160  share= 90.0%  pass= 50.0%" in out
    assert "arithmetic" in out and "word_limit" in out
    assert main(["data", "stats", str(data_dir() / "eval.jsonl")]) == 0
    assert "prompts: 240" in capsys.readouterr().out


def test_synth_check_and_write(tmp_path):
    """`crlft data synth --check` passes on the shipped files and fails on a folder that differs."""
    assert main(["data", "synth", "--seed", "0", "--check"]) == 0
    assert main(["data", "synth", "--seed", "0", "--out", str(tmp_path)]) == 0
    assert main(["data", "synth", "--seed", "1", "--out", str(tmp_path), "--check"]) == 1


def test_synth_without_out_writes_the_checkout_or_the_working_folder(tmp_path, monkeypatch):
    """Protects site-packages: `crlft data synth` without --out writes data/ of the checkout, else ./data."""
    from course_utils import paths

    shipped = data_dir()
    assert shipped == paths.REPO_ROOT / "data"
    monkeypatch.setattr(paths, "REPO_ROOT", tmp_path / "site-packages")
    monkeypatch.chdir(tmp_path)
    assert main(["data", "synth", "--seed", "0"]) == 0
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["eval.jsonl", "facts.json", "train.jsonl",
                                                                    "val.jsonl"]
    assert not (tmp_path / "site-packages").exists()
    for path in (tmp_path / "data").iterdir():
        assert path.read_bytes() == (shipped / path.name).read_bytes(), path.name


def test_registered_in_the_crlft_cli():
    """`crlft data` is reachable from the top-level command."""
    assert cli.COMMANDS["data"] == "course_utils.course.commands.data"


def test_validate_names_bad_weights_and_unknown_conditions(tmp_path, capsys):
    """Protects the data's ownership of the weight: a weight that is not a finite number >= 0 (a string, NaN,
    a negative) and a condition the course does not know are errors naming the record and the field."""
    good = {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}],
            "source": "gpt-4"}
    rows = [dict(good, id="w-str", weight="1.0"), dict(good, id="w-nan", weight=float("nan")),
            dict(good, id="w-neg", weight=-0.1), dict(good, id="c-bad", condition="gpt5", weight=1.0),
            dict(good, id="ok", condition="suboptimal", weight=0.1)]
    path = tmp_path / "labeled.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    assert main(["data", "validate", str(path)]) == 1
    out = capsys.readouterr().out
    for index, rid, field in ((0, "w-str", "weight"), (1, "w-nan", "weight"), (2, "w-neg", "weight"),
                              (3, "c-bad", "condition")):
        assert f"record {index} (id {rid!r}): {field}:" in out
    assert "OK    record 4 (id 'ok')" in out
    from course_utils.data.loaders import load_train_dataset
    from course_utils.data.schema import DataValidationError

    with pytest.raises(DataValidationError, match=r"record 1 \(id 'w-nan'\): weight"):
        load_train_dataset(path)
