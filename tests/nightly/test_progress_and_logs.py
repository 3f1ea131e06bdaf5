"""A progress bar on a real pseudo-terminal (test_progress.py uses a fake one), and the nightly's exit codes for cron."""

from __future__ import annotations

import io
import os
import pty
import re
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
    shown = _drain(leader)
    assert "runs" in shown and "4/4" in shown and "#" * 30 in shown


def _drain(leader: int) -> str:
    """All the terminal has been sent: one read may return only the first of the writes."""
    import select

    out = b""
    while select.select([leader], [], [], 0.5)[0]:
        chunk = os.read(leader, 4096)
        if not chunk:
            break
        out += chunk
    return out.decode()


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


def _on_a_terminal(args: list[str], cwd: Path, env: dict[str, str]) -> tuple[int, str, str]:
    """Run `python -m auditor ARGS` with stderr on a real pseudo-terminal (stdout piped): (exit code, what the
    terminal showed, stdout). The terminal is read while the command runs: a full pty would block it."""
    import subprocess
    import threading

    leader, follower = pty.openpty()
    shown = bytearray()

    def drain():
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # EIO: every writer closed
                return
            if not chunk:
                return
            shown.extend(chunk)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        proc = subprocess.run([sys.executable, "-m", "auditor", *args], cwd=cwd, env=env, stdout=subprocess.PIPE,
                              stderr=follower, stdin=subprocess.DEVNULL, text=True, timeout=600)
    finally:
        os.close(follower)
        reader.join(timeout=10)
        os.close(leader)
    return proc.returncode, shown.decode(errors="replace"), proc.stdout


def test_discovery_shows_progress_on_a_terminal_and_none_when_piped(lab):
    """Reading a results folder of many runs draws a "discover" bar on stderr for a person at a terminal
    (`audit run` and `audit nightly`), and writes nothing to stderr when it is not a terminal (cron, CI)."""
    root, repo, shas = lab
    results = root / "many"
    for index in range(60):
        write_run(results, run_record(f"r{index:02d}", f"g{index % 6}", index // 6, shas["ok"]))
    env = {key: value for key, value in os.environ.items() if key not in ("CI", "AUDITOR_NO_PROGRESS")}
    env.update(TERM="xterm", XDG_CACHE_HOME=str(root / "cache"))

    code, shown, stdout = _on_a_terminal(["run", "r07", "--results", str(results), "--no-replay"], root, env)
    assert code in (0, 1) and "run r07" in stdout, shown
    assert re.search(r"discover\s+\[#{30}\] 60/60", shown), shown

    code, shown, _ = _on_a_terminal(["nightly", str(results), "--repo", str(repo), "--out", str(root / "out"),
                                     "--jobs", "1"], root, env)
    assert code in (0, 1), shown
    assert re.search(r"discover\s+\[#{30}\] 60/60", shown), shown

    piped = run_cli("run", "r07", "--results", str(results), "--no-replay", cwd=root, env=env)
    assert piped.returncode in (0, 1) and "run r07" in piped.stdout
    assert piped.stderr == ""
    nightly_piped = nightly(root, results, repo)
    assert "discover" not in nightly_piped.stderr and "60/60" not in nightly_piped.stderr
