"""Progress bars only for a person at a terminal; --verbose logs each phase's time."""

from __future__ import annotations

import io
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from cli_helpers import run_cli  # noqa: E402
from nightly_lab import make_repo, make_results  # noqa: E402

from auditor.progress import Progress, interactive  # noqa: E402


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_bar_draws_on_a_terminal_and_stays_quiet_in_ci(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("AUDITOR_NO_PROGRESS", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    terminal = FakeTerminal()
    assert interactive(terminal)
    with Progress("runs", 4, stream=terminal) as bar:
        for _ in range(4):
            bar.advance()
    assert "runs" in terminal.getvalue() and "4/4" in terminal.getvalue() and terminal.getvalue().endswith("\n")

    piped = io.StringIO()
    with Progress("runs", 4, stream=piped) as bar:
        bar.advance(4)
    assert piped.getvalue() == ""

    monkeypatch.setenv("CI", "true")
    quiet = FakeTerminal()
    with Progress("runs", 4, stream=quiet) as bar:
        bar.advance(4)
    assert quiet.getvalue() == ""


def test_verbose_logs_phase_timings_and_quiet_run_does_not(tmp_path):
    repo, shas = make_repo(tmp_path)
    results = make_results(tmp_path, shas)
    verbose = run_cli("nightly", str(results), "--repo", str(repo), "--out", str(tmp_path / "a"), "--verbose",
                      cwd=tmp_path)
    for phase in ("discover", "runs", "code", "comparisons", "docs", "report"):
        assert re.search(rf"audit: {phase}\s+\d+\.\d+ s", verbose.stderr), (phase, verbose.stderr)
    quiet = run_cli("nightly", str(results), "--repo", str(repo), "--out", str(tmp_path / "b"), cwd=tmp_path)
    assert quiet.stderr == ""  # not a terminal: no bars, no logs
