"""A progress bar on a real pseudo-terminal (test_progress.py uses a fake one), and the nightly's exit codes for cron."""

from __future__ import annotations

import io
import os
import pty
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from cli_helpers import run_cli  # noqa: E402
from nightly_lab import make_repo, run_record, write_run  # noqa: E402

from auditor.progress import Progress, interactive  # noqa: E402


@pytest.fixture
def terminal():
    """A real pseudo-terminal: what a person running `audit nightly` by hand has as stderr."""
    leader, follower = pty.openpty()
    stream = os.fdopen(follower, "w")
    yield stream, leader
    stream.close()
    os.close(leader)


def test_progress_bar_draws_on_a_terminal(terminal, monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("AUDITOR_NO_PROGRESS", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    stream, leader = terminal
    assert interactive(stream)
    with Progress("runs", 4, stream=stream) as bar:
        for _ in range(4):
            bar.advance()
    shown = os.read(leader, 4096).decode()
    assert "runs" in shown and "4/4" in shown and "#" * 30 in shown


def test_progress_is_quiet_in_ci_and_when_not_a_terminal(terminal, monkeypatch):
    piped = io.StringIO()
    with Progress("runs", 3, stream=piped) as bar:
        bar.advance(3)
    assert piped.getvalue() == ""
    stream, _ = terminal
    monkeypatch.setenv("CI", "true")
    assert not interactive(stream)
    assert not Progress("runs", 3, stream=stream).enabled


@pytest.fixture
def lab(tmp_path):
    repo, shas = make_repo(tmp_path)
    return tmp_path, repo, shas


def nightly(root: Path, results: Path, repo: Path, *extra: str):
    return run_cli("nightly", str(results), "--repo", str(repo), "--out", str(root / "out"), "--jobs", "1", *extra,
                   cwd=root, env={"XDG_CACHE_HOME": str(root / "cache")})


def test_exit_code_follows_fail_on(lab):
    root, repo, shas = lab
    results = root / "dirty"
    record = run_record("dirty-s0", "dirty", 0, shas["ok"])
    record["git"]["dirty"] = True  # RA203, a warning: below the default failing severity
    write_run(results, record)
    default = nightly(root, results, repo)
    assert default.returncode == 0, default.stdout + default.stderr
    assert "1 warning" in default.stdout
    strict = nightly(root, results, repo, "--fail-on", "warning")
    assert strict.returncode == 1, strict.stdout + strict.stderr


def test_results_dir_that_is_a_file_exits_2(lab):
    root, repo, _ = lab
    (root / "not-a-dir.txt").write_text("x")
    proc = nightly(root, root / "not-a-dir.txt", repo)
    assert proc.returncode == 2 and "not-a-dir.txt" in proc.stderr and "Traceback" not in proc.stderr
