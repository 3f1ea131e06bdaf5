"""The discovery cache on run folders written by the real wandb client (its own file: skipped without wandb)."""

from __future__ import annotations

import pytest

from auditor.runs import discovery_cache
from auditor.runs.discover import discover_runs
from auditor.runs.readers import wandb

from .helpers import config
from .test_wandb import _copy_run, wandb_results  # noqa: F401  (module fixture: runs the wandb client once)


@pytest.fixture(autouse=True)
def no_racy_window(monkeypatch):
    monkeypatch.setattr(discovery_cache, "RACY_NS", 0)  # the copies were written a moment ago


@pytest.fixture
def opened(monkeypatch):
    calls = []
    original = wandb.read

    def counting(folder, *args):
        calls.append(folder)
        return original(folder, *args)

    monkeypatch.setattr(wandb, "read", counting)
    return calls


def test_a_real_wandb_run_is_cached_and_a_cut_log_is_seen(wandb_results, tmp_path, opened):  # noqa: F811
    """Runs logged by the real wandb client: unchanged they come from the cache (W&B's debug-log symlink
    to a file every wandb process appends to does not count); a log cut short is read again."""
    results, _ = wandb_results
    _, log = _copy_run(results, "goodrun1", tmp_path)
    (run,) = discover_runs(tmp_path, config(), cache=True).runs
    assert run.state == "completed"
    opened.clear()
    again = discover_runs(tmp_path, config(), cache=True)
    assert again.from_cache == 1 and opened == [] and vars(again.runs[0]) == vars(run)
    data = log.read_bytes()
    log.write_bytes(data[: len(data) * 2 // 3])  # the exit record is gone
    (cut,) = discover_runs(tmp_path, config(), cache=True).runs
    assert cut.state != "completed" and len(opened) == 1
