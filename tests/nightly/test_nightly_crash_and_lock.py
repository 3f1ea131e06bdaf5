"""A nightly killed by SIGKILL half-way, then restarted, gives the same report as an uninterrupted one
and keeps what it had finished; two nightlies at once do not corrupt each other (lock)."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from cli_helpers import run_cli  # noqa: E402
from nightly_lab import make_repo, make_results  # noqa: E402

from auditor.config import Config  # noqa: E402
from auditor.nightly.lock import NightlyLock  # noqa: E402
from auditor.nightly.state import state_path  # noqa: E402

REPORTS = ("report.md", "report.html", "findings.json", "findings.sarif", "summary.json")
N_FILLER = 1200
CHUNK = 10


@pytest.fixture
def big_lab(tmp_path):
    repo, shas = make_repo(tmp_path)
    results = make_results(tmp_path, shas, n_extra=N_FILLER)
    config = tmp_path / "auditor.yaml"
    config.write_text(yaml.safe_dump({"nightly": {"chunk_size": CHUNK}}))
    return tmp_path, repo, results, config


def _argv(results, repo, out, config, *extra):
    return [sys.executable, "-m", "auditor", "nightly", str(results), "--repo", str(repo), "--out", str(out),
            "--config", str(config), "--jobs", "1", "-v", *extra]


def _rows(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as conn:
            return conn.execute("SELECT COUNT(*) FROM results WHERE kind='run'").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def test_sigkill_half_way_then_restart_gives_the_same_report(big_lab):
    root, repo, results, config = big_lab
    out = root / "report"
    total_runs = N_FILLER + 6

    # The reference: an uninterrupted nightly with its own cache.
    reference_env = {**os.environ, "XDG_CACHE_HOME": str(root / "cache-reference")}
    done = subprocess.run(_argv(results, repo, out, config), env=reference_env, capture_output=True, text=True)
    assert done.returncode == 1, done.stderr
    reference = {name: (out / name).read_bytes() for name in REPORTS}
    for name in REPORTS:
        (out / name).unlink()

    # The same nightly, killed as soon as some of its work is committed.
    cache = root / "cache-crash"
    env = {**os.environ, "XDG_CACHE_HOME": str(cache)}
    db = state_path(cache / "auditor", results)
    proc = subprocess.Popen(_argv(results, repo, out, config), env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while _rows(db) == 0 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    kept = _rows(db)
    assert 0 < kept < total_runs, f"not killed half-way ({kept} of {total_runs} runs committed)"
    assert not (out / "summary.json").exists()  # no half-written report set

    restarted = subprocess.run(_argv(results, repo, out, config), env=env, capture_output=True, text=True)
    assert restarted.returncode == 1, restarted.stderr
    assert f"{total_runs - kept} audited, {kept} from the last nightly" in restarted.stderr
    assert {name: (out / name).read_bytes() for name in REPORTS} == reference
    assert _rows(db) == total_runs


def test_a_second_nightly_of_the_same_dir_exits_with_a_clear_message(tmp_path):
    repo, shas = make_repo(tmp_path)
    results = make_results(tmp_path, shas)
    cache = tmp_path / "cache"
    lock_path = state_path(Config(cache_dir_setting=str(cache / "auditor")).cache_dir, results).with_suffix(".lock")
    holder = NightlyLock(lock_path)
    holder.acquire()
    try:
        proc = run_cli("nightly", str(results), "--repo", str(repo), "--out", str(tmp_path / "out"), cwd=tmp_path,
                       env={"XDG_CACHE_HOME": str(cache)})
        assert proc.returncode == 2
        assert "another nightly" in proc.stderr and f"pid {os.getpid()}" in proc.stderr and "--wait" in proc.stderr
        assert not (tmp_path / "out").exists()

        # With --wait, it waits for the first one to finish and then runs.
        threading.Timer(1.0, holder.release).start()
        waited = run_cli("nightly", str(results), "--repo", str(repo), "--out", str(tmp_path / "out"), "--wait", "30",
                         cwd=tmp_path, env={"XDG_CACHE_HOME": str(cache)})
        assert waited.returncode == 1, waited.stderr
        assert (tmp_path / "out" / "summary.json").is_file()
    finally:
        holder.release()


def test_two_nightlies_started_at_once_both_finish_with_intact_state_and_reports(tmp_path):
    repo, shas = make_repo(tmp_path)
    results = make_results(tmp_path, shas, n_extra=100)
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    procs = [subprocess.Popen([sys.executable, "-m", "auditor", "nightly", str(results), "--repo", str(repo),
                               "--out", str(tmp_path / f"out{i}"), "--wait", "120", "--jobs", "1"],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(2)]
    outputs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [1, 1], outputs
    first, second = (json.loads((tmp_path / f"out{i}" / "summary.json").read_text()) for i in range(2))
    # One ran first and saw everything as new; the other waited and found it all known.
    assert sorted([first["new"], second["new"]]) == [0, first["findings"]]
    assert (tmp_path / "out0" / "findings.json").read_bytes() == (tmp_path / "out1" / "findings.json").read_bytes()
    db = state_path(tmp_path / "cache" / "auditor", results)
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("SELECT COUNT(*) FROM nightlies WHERE finished IS NOT NULL").fetchone()[0] == 2
