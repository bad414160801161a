"""`crlft reset` (lists, refuses without --yes, deletes only inside the runs folder) and `crlft catch-up`'s parser
(its training is what lessons 03 and 04 run; it is not run here)."""

from __future__ import annotations

from course_utils.course.cli import build_parser, main
from course_utils.course.commands import catch_up


def _runs(tmp_path, monkeypatch):
    runs = tmp_path / "runs"
    (runs / "lesson03" / "crlft").mkdir(parents=True)
    (runs / "lesson03" / "crlft" / "adapter_model.safetensors").write_bytes(b"x" * 10)
    (runs / "eval_cache.json").write_text("{}")
    outside = tmp_path / "keep.txt"
    outside.write_text("mine")
    (runs / "link").symlink_to(outside)
    monkeypatch.setenv("CRLFT_RUNS_DIR", str(runs))
    return runs, outside


def test_reset_refuses_without_yes_and_lists(tmp_path, monkeypatch, capsys):
    runs, outside = _runs(tmp_path, monkeypatch)
    assert main(["reset"]) == 1
    out = capsys.readouterr().out
    assert "would delete" in out and "lesson03/" in out and "eval_cache.json" in out and "--yes" in out
    assert sorted(p.name for p in runs.iterdir()) == ["eval_cache.json", "lesson03", "link"]


def test_reset_deletes_with_yes_and_nothing_outside(tmp_path, monkeypatch, capsys):
    runs, outside = _runs(tmp_path, monkeypatch)
    assert main(["reset", "--yes"]) == 0
    assert runs.is_dir() and list(runs.iterdir()) == []
    assert outside.read_text() == "mine"  # the link was removed, not followed
    assert "deleted 3 entries" in capsys.readouterr().out


def test_reset_on_an_empty_runs_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CRLFT_RUNS_DIR", str(tmp_path / "absent"))
    assert main(["reset", "--yes"]) == 0
    assert "nothing to delete" in capsys.readouterr().out


def test_catch_up_parser():
    args = build_parser(["catch-up"]).parse_args(["catch-up"])
    assert args.func is catch_up.run and args.only is None
    args = build_parser(["catch-up"]).parse_args(["catch-up", "--only", "lesson03"])
    assert args.only == ["lesson03"]
    assert catch_up.LESSON_RUNS == ("lesson03",)
