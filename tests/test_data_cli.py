"""`crlft data` commands: exit codes and what they print."""

from pathlib import Path

from course_utils import cli
from course_utils.data_cli import main
from course_utils.synth import data_dir

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


def test_registered_in_the_crlft_cli():
    """`crlft data` is reachable from the top-level command."""
    assert cli.COMMANDS["data"] == "course_utils.data_cli"
