"""The discovery cache: an unchanged run folder is not opened again; anything changed on disk is read again.

Real files throughout: native records, an MLflow file store, a W&B run folder, TensorBoard event files written
by torch's SummaryWriter. Files are aged (mtime in the past) where a test needs a cache hit: a file written
in the last two seconds is never trusted (see auditor.runs.discovery_cache, "racy clean").
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from pathlib import Path

import pytest

from auditor.config import RunsSettings
from auditor.runs import discover as discover_module
from auditor.runs import discovery_cache
from auditor.runs.discover import discover_runs
from auditor.runs.readers import hydra, mlflow, native, tensorboard, wandb
from auditor.runs.series import Series

from .helpers import age, config, write_record


def _record(run_id: str, score: float = 0.7142, steps: int = 29) -> dict:
    return {"id": run_id, "group": run_id.split("-")[0], "seed": int(run_id[-1]),
            "git": {"sha": "e2dfbd8c" * 5, "dirty": False},
            "config": {"lr": 3e-4, "trainer": {"total_training_steps": steps, "test_freq": 20}},
            "status": {"state": "completed", "exit_code": 0, "elapsed_s": 100},
            "metrics": {"val/acc": [[0, 0.08], [20, 0.6], [steps, score]]},
            "reported": {"val/acc": score, "step": steps}}


def _lab(tmp_path: Path, n: int = 4) -> Path:
    results = tmp_path / "results"
    for i in range(n):
        write_record(results / f"q201-s{i}", _record(f"q201-s{i}"), fmt="json" if i % 2 else "yaml")
    (results / "broken").mkdir()
    (results / "broken" / "run.yaml").write_text("id: broken\nconfig: {lr: [1\n")  # half-written: RA001
    age(results, 600)
    return results


def _view(discovery) -> tuple:
    """Everything discovery returns, as plain data (to compare a cached discovery with a fresh one)."""
    return ([vars(run) for run in discovery.runs], [f.to_json() for f in discovery.problems],
            [(folder, error.as_dict()) for folder, error in discovery.errors])


@pytest.fixture(autouse=True)
def no_racy_window(monkeypatch):
    """Files written by the test are seconds old at most; their ctime cannot be aged. Trust them at once
    (test_a_fresh_write_is_not_trusted_until_it_is_old_enough puts the window back)."""
    monkeypatch.setattr(discovery_cache, "RACY_NS", 0)


@pytest.fixture
def opened(monkeypatch):
    """Every record file the native, MLflow, W&B and TensorBoard readers open, in order."""
    calls: list[str] = []

    def counting(module, name, arg):
        original = getattr(module, name)

        def wrapper(*args, **kwargs):
            calls.append(str(args[arg]))
            return original(*args, **kwargs)

        monkeypatch.setattr(module, name, wrapper)

    counting(native, "load_record", 0)
    counting(discover_module, "read_text", 0)  # run.json: sniffed for Sacred before the native reader
    counting(mlflow, "read", 0)
    counting(wandb, "read", 0)
    counting(tensorboard, "read", 0)
    return calls


def test_an_unchanged_folder_is_not_opened_again_and_reads_the_same(tmp_path, opened):
    results = _lab(tmp_path)
    uncached = _view(discover_runs(results, config(), cache=False))
    first = discover_runs(results, config(), cache=True)
    assert first.from_cache == 0 and len(opened) > 0
    opened.clear()
    second = discover_runs(results, config(), cache=True)
    assert opened == [] and second.from_cache == 5  # four runs and the broken record
    assert _view(first) == _view(second) == uncached
    assert all(isinstance(points, Series) for run in second.runs for points in run.metrics.values())
    assert [p.rule for p in second.problems] == ["RA001"] and "broken" in second.problems[0].location.path


def test_the_cache_lives_under_the_cache_dir_and_nothing_is_written_into_results(tmp_path):
    results = _lab(tmp_path)
    before = sorted((str(p), p.stat().st_mtime_ns) for p in results.rglob("*"))
    cfg = config(cache_dir_setting=str(tmp_path / "my-cache"))
    discover_runs(results, cfg, cache=True)
    discover_runs(results, cfg, cache=True)
    assert sorted((str(p), p.stat().st_mtime_ns) for p in results.rglob("*")) == before
    assert list((tmp_path / "my-cache" / "runs").glob("discovery-*.sqlite"))


def test_a_rewrite_of_the_same_size_with_the_old_mtime_is_read_again(tmp_path, opened):
    results = _lab(tmp_path)
    discover_runs(results, config(), cache=True)
    path = results / "q201-s0" / "run.yaml"
    old = path.stat()
    text = path.read_text()
    assert "0.7142" in text
    path.write_text(text.replace("0.7142", "0.7143"))  # same size
    os.utime(path, ns=(old.st_atime_ns, old.st_mtime_ns))  # and the same mtime: only ctime tells
    assert path.stat().st_size == old.st_size and path.stat().st_mtime_ns == old.st_mtime_ns
    opened.clear()
    run = discover_runs(results, config(), cache=True).get("q201-s0")
    assert run.reported["val/acc"] == 0.7143 and run.metrics["val/acc"][-1] == (29, 0.7143)
    assert [Path(p).parent.name for p in opened] == ["q201-s0"]  # only the changed folder was read


def test_a_changed_size_or_mtime_is_read_again(tmp_path):
    results = _lab(tmp_path)
    discover_runs(results, config(), cache=True)
    write_record(results / "q201-s2", _record("q201-s2", score=0.8, steps=40))  # different size
    age(results / "q201-s2", 300)
    path = results / "q201-s1" / "run.json"  # same size, mtime moved
    path.write_text(path.read_text().replace("0.7142", "0.6142"))
    age(results / "q201-s1", 120)
    discovery = discover_runs(results, config(), cache=True)
    assert discovery.get("q201-s2").max_steps == 40 and discovery.get("q201-s2").reported["val/acc"] == 0.8
    assert discovery.get("q201-s1").reported["val/acc"] == 0.6142
    assert discovery.from_cache == 3


def test_a_fresh_write_is_not_trusted_until_it_is_old_enough(tmp_path, opened, monkeypatch):
    """Written within the last 2 s: a same-size rewrite in the same timestamp tick could go unseen."""
    monkeypatch.setattr(discovery_cache, "RACY_NS", 2_000_000_000)
    results = tmp_path / "results"
    write_record(results / "q201-s0", _record("q201-s0"))
    discover_runs(results, config(), cache=True)
    opened.clear()
    assert discover_runs(results, config(), cache=True).from_cache == 0 and len(opened) == 1
    monkeypatch.setattr(discovery_cache, "now_ns", lambda: time.time_ns() + 3_000_000_000)  # 3 s later
    discover_runs(results, config(), cache=True)
    opened.clear()
    assert discover_runs(results, config(), cache=True).from_cache == 1 and opened == []


def test_a_deleted_run_disappears_and_a_new_run_appears(tmp_path):
    import shutil

    results = _lab(tmp_path)
    discover_runs(results, config(), cache=True)
    shutil.rmtree(results / "q201-s3")
    write_record(results / "q202-s0", _record("q202-s0"))
    (results / "broken" / "run.yaml").write_text(json.dumps(_record("fixed-s0")))  # the broken one, repaired
    discovery = discover_runs(results, config(), cache=True)
    assert [run.id for run in discovery.runs] == ["fixed-s0", "q201-s0", "q201-s1", "q201-s2", "q202-s0"]
    assert discovery.problems == []
    again = discover_runs(results, config(), cache=True)
    assert _view(again) == _view(discover_runs(results, config()))


def test_a_corrupt_cache_file_falls_back_and_is_rebuilt(tmp_path):
    results = _lab(tmp_path)
    cfg = config(cache_dir_setting=str(tmp_path / "cache"))
    expected = _view(discover_runs(results, cfg, cache=True))
    (path,) = (tmp_path / "cache" / "runs").glob("discovery-*.sqlite")
    for extra in (path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        extra.unlink(missing_ok=True)
    path.write_bytes(b"this is not a database" * 100)
    discovery = discover_runs(results, cfg, cache=True)
    assert _view(discovery) == expected and discovery.from_cache == 0
    again = discover_runs(results, cfg, cache=True)
    assert _view(again) == expected and again.from_cache == 5


def test_a_damaged_row_is_a_miss(tmp_path):
    results = _lab(tmp_path)
    cfg = config(cache_dir_setting=str(tmp_path / "cache"))
    expected = _view(discover_runs(results, cfg, cache=True))
    (path,) = (tmp_path / "cache" / "runs").glob("discovery-*.sqlite")
    db = sqlite3.connect(str(path))
    with db:
        db.execute("UPDATE folders SET value=? WHERE rel='q201-s0'", (b"\x00garbage",))
    db.close()
    discovery = discover_runs(results, cfg, cache=True)
    assert _view(discovery) == expected and discovery.from_cache == 4


def test_a_locked_cache_falls_back_to_reading(tmp_path, monkeypatch):
    monkeypatch.setattr(discovery_cache, "TIMEOUT_S", 0.05)
    results = _lab(tmp_path)
    cfg = config(cache_dir_setting=str(tmp_path / "cache"))
    expected = _view(discover_runs(results, cfg, cache=True))
    (path,) = (tmp_path / "cache" / "runs").glob("discovery-*.sqlite")
    holder = sqlite3.connect(str(path), isolation_level=None)
    holder.execute("PRAGMA locking_mode=EXCLUSIVE")
    holder.execute("BEGIN EXCLUSIVE")
    try:
        discovery = discover_runs(results, cfg, cache=True)
        assert _view(discovery) == expected and discovery.from_cache == 0
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_other_key_map_settings_invalidate(tmp_path):
    results = tmp_path / "results"
    record = _record("q201-s0")
    del record["seed"]
    record["config"]["my_seed"] = 11
    write_record(results / "q201-s0", record)
    age(results, 600)
    assert discover_runs(results, config(), cache=True).runs[0].seed is None
    cfg = config(key_map={**config().key_map, "seed": ["my_seed"]})
    discovery = discover_runs(results, cfg, cache=True)
    assert discovery.runs[0].seed == 11 and discovery.from_cache == 0


def test_a_running_run_is_never_served_from_the_cache(tmp_path):
    """Whether a silent run is dead depends on the clock: it is read, and settled, every time."""
    from auditor.runs.record import DEFAULT_STALE_AFTER_S

    results = tmp_path / "results"
    record = _record("q201-s0")
    record["status"] = {"state": "running"}
    write_record(results / "q201-s0", record)
    age(results, 60)
    assert discover_runs(results, config(), cache=True).runs[0].state == "running"
    age(results, DEFAULT_STALE_AFTER_S + 60)
    discovery = discover_runs(results, config(), cache=True)
    assert discovery.runs[0].state == "killed" and discovery.from_cache == 0


# -- formats whose run spans several files ------------------------------------------------------------

def _mlflow_run(store: Path, run_id: str, points: int) -> Path:
    exp = store / "mlruns" / "1"
    exp.mkdir(parents=True, exist_ok=True)
    (exp / "meta.yaml").write_text("experiment_id: '1'\nname: q201\nlifecycle_stage: active\n")
    run = exp / run_id
    for sub in ("params", "metrics", "tags"):
        (run / sub).mkdir(parents=True, exist_ok=True)
    (run / "meta.yaml").write_text(f"run_id: {run_id}\nstatus: 3\nstart_time: 1\nend_time: 2\n"
                                   "lifecycle_stage: active\n")
    (run / "params" / "seed").write_text("0")
    (run / "tags" / "mlflow.source.git.commit").write_text("e2dfbd8c" * 5)
    (run / "metrics" / "val_acc").write_text("".join(f"1700000000{s} {0.1 * s} {s}\n" for s in range(points)))
    return run


def test_an_appended_mlflow_metric_file_is_seen(tmp_path, opened):
    run = _mlflow_run(tmp_path / "store", "a" * 32, points=3)
    age(tmp_path / "store", 600)
    results = tmp_path / "store"
    assert len(discover_runs(results, config(), cache=True).runs[0].metrics["val_acc"]) == 3
    opened.clear()
    assert discover_runs(results, config(), cache=True).from_cache == 1 and opened == []
    metric = run / "metrics" / "val_acc"
    stamp = metric.stat()
    with open(metric, "a") as handle:
        handle.write("17000000009 0.9 9\n")
    os.utime(metric, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))  # even with the old mtime: the size moved
    (run,) = discover_runs(results, config(), cache=True).runs
    assert run.metrics["val_acc"][-1] == (9, 0.9)
    # the experiment's name lives one folder up
    meta = results / "mlruns" / "1" / "meta.yaml"
    meta.write_text(meta.read_text().replace("q201", "q999"))
    assert discover_runs(results, config(), cache=True).runs[0].group == "q999"


def test_a_changed_wandb_side_file_is_seen(tmp_path, opened):
    folder = tmp_path / "wandb" / "run-20260101_000000-abc123"
    (folder / "files").mkdir(parents=True)
    (folder / "files" / "wandb-metadata.json").write_text(json.dumps(
        {"python": "3.11.7", "git": {"commit": "e2dfbd8c" * 5, "remote": "x"}, "codePath": "train.py"}))
    (folder / "files" / "wandb-summary.json").write_text(json.dumps({"val/acc": 0.7, "_step": 29}))
    (folder / "files" / "config.yaml").write_text("wandb_version: 1\nseed: {desc: null, value: 3}\n")
    age(tmp_path, 600)
    assert discover_runs(tmp_path, config(), cache=True).runs[0].reported["val/acc"] == 0.7
    opened.clear()
    assert discover_runs(tmp_path, config(), cache=True).from_cache == 1 and opened == []
    (folder / "files" / "wandb-summary.json").write_text(json.dumps({"val/acc": 0.8, "_step": 29}))
    age(tmp_path, 300)
    (run,) = discover_runs(tmp_path, config(), cache=True).runs
    assert run.reported["val/acc"] == 0.8 and len(opened) == 1


def test_appended_tensorboard_events_are_seen(tmp_path, opened):
    torch_tb = pytest.importorskip("torch.utils.tensorboard")
    scratch = tmp_path / "scratch"
    writer = torch_tb.SummaryWriter(log_dir=str(scratch))
    for step in range(5):
        writer.add_scalar("val/acc", step / 10, step)
    writer.flush()
    (event,) = scratch.glob("events.out.tfevents*")
    head = event.read_bytes()
    for step in range(5, 10):
        writer.add_scalar("val/acc", step / 10, step)
    writer.close()
    tail = event.read_bytes()[len(head):]
    assert tail

    results = tmp_path / "tb"
    target = results / "run1" / event.name
    target.parent.mkdir(parents=True)
    target.write_bytes(head)
    age(results, 600)
    assert len(discover_runs(results, config(), cache=True).runs[0].metrics["val/acc"]) == 5
    opened.clear()
    assert discover_runs(results, config(), cache=True).from_cache == 1 and opened == []
    stamp = target.stat()
    with open(target, "ab") as handle:  # the writer appends to its event file as training goes on
        handle.write(tail)
    os.utime(target, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
    (run,) = discover_runs(results, config(), cache=True).runs
    assert len(run.metrics["val/acc"]) == 10 and run.metrics["val/acc"][-1] == (9, pytest.approx(0.9))



def test_hydra_overrides_and_metrics_one_level_down_are_seen(tmp_path, monkeypatch):
    """A Hydra output folder: the group comes from .hydra/, the metrics from a file one folder below."""
    folder = tmp_path / "outputs" / "2026-01-01" / "run-a"
    (folder / ".hydra").mkdir(parents=True)
    (folder / "logs").mkdir()
    (folder / ".hydra" / "config.yaml").write_text("seed: 0\nlr: 0.1\n")
    (folder / ".hydra" / "overrides.yaml").write_text("- lr=0.1\n- seed=0\n")
    (folder / ".hydra" / "hydra.yaml").write_text("hydra: {job: {name: train}}\n")
    metrics = folder / "logs" / "metrics.jsonl"
    metrics.write_text('{"step": 0, "val/acc": 0.1}\n')
    hydra_reads = []
    original = hydra.read
    monkeypatch.setattr(hydra, "read", lambda *a: hydra_reads.append(a[0]) or original(*a))
    (run,) = discover_runs(tmp_path / "outputs", config(), cache=True).runs
    assert run.group == "train[lr=0.1]" and run.metrics["val/acc"] == [(0, 0.1)]
    assert discover_runs(tmp_path / "outputs", config(), cache=True).from_cache == 1 and len(hydra_reads) == 1
    with open(metrics, "a") as handle:
        handle.write('{"step": 5, "val/acc": 0.5}\n')
    (run,) = discover_runs(tmp_path / "outputs", config(), cache=True).runs
    assert run.metrics["val/acc"] == [(0, 0.1), (5, 0.5)]
    (folder / ".hydra" / "overrides.yaml").write_text("- lr=0.2\n- seed=0\n")
    (run,) = discover_runs(tmp_path / "outputs", config(), cache=True).runs
    assert run.group == "train[lr=0.2]" and len(hydra_reads) == 3


def test_sacred_files_beside_run_json_are_seen(tmp_path):
    folder = tmp_path / "sacred" / "1"
    folder.mkdir(parents=True)
    (folder / "run.json").write_text(json.dumps({
        "experiment": {"name": "q201", "repositories": [{"commit": "e2dfbd8c" * 5, "dirty": False}]},
        "host": {"python_version": "3.11.7"}, "status": "COMPLETED", "result": 0.7,
        "start_time": "2026-01-01T00:00:00", "stop_time": "2026-01-01T01:00:00"}))
    (folder / "config.json").write_text(json.dumps({"seed": 1, "lr": 0.1}))
    (folder / "metrics.json").write_text(json.dumps({"val/acc": {"steps": [0, 10], "values": [0.1, 0.6]}}))
    (run,) = discover_runs(tmp_path / "sacred", config(), cache=True).runs
    assert run.seed == 1 and run.metrics["val/acc"][-1] == (10, 0.6)
    (folder / "config.json").write_text(json.dumps({"seed": 2, "lr": 0.1}))
    (folder / "metrics.json").write_text(json.dumps({"val/acc": {"steps": [0, 10, 20], "values": [0.1, 0.6, 0.7]}}))
    (run,) = discover_runs(tmp_path / "sacred", config(), cache=True).runs
    assert run.seed == 2 and run.metrics["val/acc"][-1] == (20, 0.7)


def test_audit_run_uses_the_cache_unless_the_runs_section_turns_it_off(tmp_path, opened):
    results = _lab(tmp_path)
    assert discover_runs(results, config()).from_cache == 0
    assert discover_runs(results, config()).from_cache == 5  # the default: cached
    opened.clear()
    off = config(runs=RunsSettings(cache=False))
    assert discover_runs(results, off).from_cache == 0 and opened  # read again, every folder
