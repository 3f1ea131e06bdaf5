"""The nightly's own files under hostile conditions: a lock whose holder was killed while its forked workers
live, a corrupt state, an unusable cache dir, a report folder swapped whole (never a mix of two nights), and
a nightly without a repository."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import signal
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from cli_helpers import run_cli
from nightly_lab import make_repo, make_results

from auditor.nightly.lock import Busy, NightlyLock
from auditor.nightly.state import NightlyState, state_path

REPORTS = ("report.md", "report.html", "findings.json", "findings.sarif", "summary.json")


def _hold_lock_then_fork(lock_path: str, child_pid, ready) -> None:
    """The nightly's shape: take the lock, fork a worker that outlives us, wait to be killed."""
    NightlyLock(Path(lock_path)).acquire()
    worker = multiprocessing.get_context("fork").Process(target=time.sleep, args=(60,), daemon=False)
    worker.start()
    child_pid.value = worker.pid
    ready.set()
    time.sleep(60)


def test_the_lock_is_free_once_its_holder_is_killed_even_while_its_forked_worker_lives(tmp_path):
    lock_path = tmp_path / "cache" / "x.lock"
    ctx = multiprocessing.get_context("fork")
    child_pid, ready = ctx.Value("i", 0), ctx.Event()
    holder = ctx.Process(target=_hold_lock_then_fork, args=(str(lock_path), child_pid, ready))
    holder.start()
    assert ready.wait(30)
    with pytest.raises(Busy, match=f"pid {holder.pid}"):
        NightlyLock(lock_path).acquire()
    os.kill(holder.pid, signal.SIGKILL)
    holder.join(10)
    try:
        os.kill(child_pid.value, 0)  # the forked worker still runs, with the lock file's descriptor
        lock = NightlyLock(lock_path)
        lock.acquire()  # ...and the lock is free all the same
        lock.release()
    finally:
        os.kill(child_pid.value, signal.SIGKILL)


@pytest.fixture
def lab(tmp_path):
    repo, shas = make_repo(tmp_path)
    results = make_results(tmp_path, shas, n_extra=5)
    return tmp_path, repo, results


def _nightly(root, repo, results, out, *extra, cache=None):
    args = ["nightly", str(results), *(["--repo", str(repo)] if repo else []), "--out", str(out), "--jobs", "1", *extra]
    return run_cli(*args, cwd=root, env={"XDG_CACHE_HOME": str(cache or root / "cache")})


def test_a_corrupt_state_is_moved_aside_and_rebuilt(lab):
    root, repo, results = lab
    first = _nightly(root, repo, results, root / "out")
    assert first.returncode == 1, first.stderr
    reference = (root / "out" / "findings.json").read_bytes()
    db = state_path(root / "cache" / "auditor", results)
    for suffix in ("-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    db.write_bytes(b"this is not a database" * 100)

    again = _nightly(root, repo, results, root / "out")
    assert again.returncode == 1, again.stderr
    assert "corrupt" in again.stderr and "moved aside" in again.stderr
    assert (root / "out" / "findings.json").read_bytes() == reference
    assert [p.name for p in db.parent.glob(f"{db.name}.corrupt-*")]  # kept for a look, not deleted
    state = NightlyState(db)  # the rebuilt state is a healthy one
    assert not state.degraded and state.count("run") == 11
    state.close()


def test_an_unusable_cache_dir_means_no_cache_with_a_warning_and_still_the_reports(lab):
    root, repo, results = lab
    blocked = root / "not-a-dir"
    blocked.write_text("a file where the cache dir should be")
    proc = _nightly(root, repo, results, root / "out", cache=blocked)
    assert proc.returncode == 1, proc.stderr
    assert "cannot be used" in proc.stderr and "running without it" in proc.stderr
    assert json.loads((root / "out" / "summary.json").read_text())["runs"] == 11


def test_the_report_folder_is_swapped_whole_and_foreign_folders_get_a_manifest(lab):
    root, repo, results = lab
    out = root / "out"
    out.mkdir()
    (out / "report.md").write_text("last night's report")
    (out / "findings.json").write_text("{}")
    proc = _nightly(root, repo, results, out)
    assert proc.returncode == 1, proc.stderr
    assert sorted(os.listdir(out)) == sorted(REPORTS)
    assert not [p for p in root.iterdir() if p.name.startswith(".out.")]  # no temp folder left beside it
    summary = json.loads((out / "summary.json").read_text())
    for name, digest in summary["files"].items():
        assert hashlib.sha256((out / name).read_bytes()).hexdigest() == digest

    # A folder that holds other files too is written in place, summary.json (the manifest) last.
    (out / "notes.txt").write_text("mine")
    proc = _nightly(root, repo, results, out)
    assert proc.returncode == 1, proc.stderr
    assert (out / "notes.txt").read_text() == "mine"
    summary = json.loads((out / "summary.json").read_text())
    assert all(hashlib.sha256((out / n).read_bytes()).hexdigest() == d for n, d in summary["files"].items())


def test_a_nightly_without_a_repository_says_so_and_fails_unless_no_repo(lab):
    root, _repo, results = lab
    proc = _nightly(root, None, results, root / "out")
    assert proc.returncode == 2 and "no git repository" in proc.stderr
    for name in REPORTS:
        assert "no git repository" in (root / "out" / name).read_text(), name
    assert json.loads((root / "out" / "summary.json").read_text())["no_repository"]

    proc = _nightly(root, None, results, root / "out2", "--no-repo")
    assert proc.returncode == 1, proc.stderr  # the run findings decide, as usual
    found = json.loads((root / "out2" / "findings.json").read_text())["findings"]
    assert [f["severity"] for f in found if "no git repository" in f["message"]] == ["info"]
