"""Sacred FileStorageObserver runs (written by sacred) and Guild AI run folders."""

from __future__ import annotations

import json

import pytest

from auditor.runs.audit import audit_run_record
from auditor.runs.discover import discover_runs
from auditor.runs.series import Series

from .helpers import config


@pytest.fixture(scope="module")
def sacred_results(tmp_path_factory):
    sacred = pytest.importorskip("sacred")
    from sacred.observers import FileStorageObserver

    results = tmp_path_factory.mktemp("sacred-results")
    ex = sacred.Experiment("q201", interactive=True)
    ex.observers.append(FileStorageObserver(str(results / "sacred")))

    @ex.config
    def cfg():
        lr = 0.1  # noqa: F841 (sacred collects it)
        fail = False  # noqa: F841

    @ex.main
    def main(_run, lr, fail):
        for step in range(3):
            _run.log_scalar("train/loss", lr / (step + 1), step)
        if fail:
            raise RuntimeError("diverged")
        return 0.75

    ex.run(config_updates={"seed": 11})
    with pytest.raises(RuntimeError):
        ex.run(config_updates={"fail": True})
    return results


def test_sacred_runs(sacred_results):
    discovery = discover_runs(sacred_results, config())
    assert discovery.problems == []
    runs = {run.id: run for run in discovery.runs}
    ok, failed = runs["sacred/1"], runs["sacred/2"]
    assert ok.source == "sacred" and ok.group == "q201"
    assert ok.seed == 11 and isinstance(failed.seed, int)  # sacred always records a seed
    assert ok.config["lr"] == 0.1 and ok.state == "completed" and ok.reported == {"result": 0.75}
    assert ok.metrics["train/loss"] == [(0, 0.1), (1, 0.05), (2, pytest.approx(0.1 / 3))]
    assert isinstance(ok.metrics["train/loss"], Series)
    raw = json.loads((sacred_results / "sacred" / "1" / "run.json").read_text())
    assert ok.environment["python"] == raw["host"]["python_version"]
    assert [f"{k}=={v}" for k, v in ok.environment["packages"].items()] == sorted(raw["experiment"]["dependencies"])
    repos = raw["experiment"]["repositories"]
    assert ok.git_sha == (repos[0]["commit"] if repos else None)
    assert failed.state == "failed"
    assert "RA230" in {f.rule for f in audit_run_record(failed, config())}
    assert "RA210" not in {f.rule for f in audit_run_record(ok, config())}


def test_sacred_stale_running_is_killed(sacred_results, tmp_path):
    import shutil

    shutil.copytree(sacred_results / "sacred" / "1", tmp_path / "exp" / "7")
    record = json.loads((tmp_path / "exp" / "7" / "run.json").read_text())
    record["status"] = "RUNNING"
    record["heartbeat"] = "2020-01-01T00:00:00.000000"  # stopped beating long ago
    record.pop("stop_time", None)
    (tmp_path / "exp" / "7" / "run.json").write_text(json.dumps(record))
    (run,) = discover_runs(tmp_path, config()).runs
    assert run.state == "killed"


def test_guild_run(tmp_path):
    writer_mod = pytest.importorskip("torch.utils.tensorboard")
    run_dir = tmp_path / "guild" / "runs" / ("a" * 32)
    attrs = run_dir / ".guild" / "attrs"
    attrs.mkdir(parents=True)
    files = {
        "id": "a" * 32,
        "vcs_commit": "git:" + "e2dfbd8c" * 5 + "*",
        "random_seed": "1234",
        "flags": "lr: 0.1\ntrainer:\n  total_training_steps: 29\n",
        "exit_status": "120",
        "started": "1700000000000000",
        "stopped": "1700000060000000",
        "cmd": "- python\n- -um\n- guild.op_main\n- train.py\n",
        "platform": "python_version: 3.11.7\n",
        "pip_freeze": "- numpy==1.26.4\n- torch==2.13.0\n",
    }
    for name, text in files.items():
        (attrs / name).write_text(text + "\n")
    writer = writer_mod.SummaryWriter(log_dir=str(run_dir / ".guild"))
    writer.add_scalar("loss", 0.5, 10)
    writer.close()
    (run,) = discover_runs(tmp_path, config()).runs
    assert run.source == "guild" and run.id == "a" * 32
    assert run.git_sha == "e2dfbd8c" * 5 and run.git_dirty is True and run.seed == 1234
    assert run.config["lr"] == 0.1 and run.max_steps == 29
    assert run.state == "failed" and run.exit_code == 120 and run.elapsed_s == 60.0
    assert run.metrics == {"loss": [(10, 0.5)]} and run.environment["torch"] == "2.13.0"
    assert run.entry_point == "train.py"
    rules = {f.rule for f in audit_run_record(run, config())}
    assert {"RA203", "RA230"} <= rules and "RA210" not in rules and "RA201" not in rules


def test_sacred_running_with_a_fresh_heartbeat_is_running(sacred_results, tmp_path):
    import shutil
    from datetime import datetime, timezone

    shutil.copytree(sacred_results / "sacred" / "1", tmp_path / "exp" / "8")
    record = json.loads((tmp_path / "exp" / "8" / "run.json").read_text())
    record["status"] = "RUNNING"
    record["heartbeat"] = datetime.now(timezone.utc).replace(tzinfo=None).isoformat()  # Sacred writes naive UTC
    record.pop("stop_time", None)
    (tmp_path / "exp" / "8" / "run.json").write_text(json.dumps(record))
    (run,) = discover_runs(tmp_path, config()).runs
    assert run.state == "running"
