"""`crlft doctor`: a clear report, a zero exit when all is well, a one-line fix for each missing piece."""

from __future__ import annotations

from course_utils.course import doctor; from course_utils.hardware import models
from course_utils.course.cli import main


def test_doctor_passes_here_and_names_the_cpu_profile(capsys, monkeypatch):
    """On this machine (no GPU, offline model prepared) doctor exits 0 and prints the cpu profile."""
    monkeypatch.setenv("COURSE_PROFILE", "cpu")
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert "[OK]   profile: cpu" in out and "[FAIL]" not in out


def test_missing_offline_model_fails_with_a_fix(capsys, monkeypatch, tmp_path):
    """An unconverted offline model makes doctor exit non-zero and print the command that fixes it."""
    monkeypatch.setenv("CRLFT_CACHE_DIR", str(tmp_path))
    assert main(["doctor"]) == 1
    line = next(l for l in capsys.readouterr().out.splitlines() if "offline model" in l)
    assert line.startswith("[FAIL]") and "crlft doctor --prepare" in line


def test_missing_library_is_reported_with_install_hint(monkeypatch):
    """A library that is not installed fails its line instead of crashing the report."""
    monkeypatch.setattr(doctor, "LIBRARIES", ("torch", "surely-not-installed-lib"))
    checks = {c.name: c for c in doctor.run_checks()}
    assert not checks["surely-not-installed-lib"].ok
    assert "pip install" in checks["surely-not-installed-lib"].line()


def test_bitsandbytes_check_runs_a_real_4bit_layer():
    """The bitsandbytes check executes an NF4 layer here rather than only importing the package."""
    check = doctor.check_bitsandbytes()
    assert check.ok, check.detail
    assert "relative error" in check.detail
    assert models.GGUF_FILE.endswith(".gguf")


def test_failed_checks_point_to_the_troubleshooting_page():
    """Each failed line names the troubleshooting page; the report ends with its URL only when a check failed."""
    from course_utils.course.colab import repository_url

    ok, failed = doctor.Check("a", True, "fine"), doctor.Check("b", False, "broken", "do x")
    assert doctor.TROUBLESHOOTING_URL == f"{repository_url()}/blob/main/docs/troubleshooting.md"
    assert "docs/troubleshooting.md" in failed.line() and "troubleshooting" not in ok.line()
    report = doctor.format_report([ok, failed]).splitlines()
    assert report[-2:] == ["1 passed, 1 failed", f"Troubleshooting: {doctor.TROUBLESHOOTING_URL}"]
    assert "Troubleshooting" not in doctor.format_report([ok])
