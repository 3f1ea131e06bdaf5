"""MLflow file stores and SQLite databases written by the real client, read without MLflow."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from auditor.config import RunsSettings
from auditor.runs.audit import audit_run_record
from auditor.runs.discover import discover_runs
from auditor.runs.series import Series

from .helpers import age, config, git_repo

pytest.importorskip("mlflow")

SCRIPT = textwrap.dedent("""
    import sys
    import mlflow

    store, db = sys.argv[1], sys.argv[2]
    mlflow.set_tracking_uri("file:" + store)
    mlflow.set_experiment("q201")
    with mlflow.start_run(run_name="s0"):
        mlflow.log_params({"seed": 0, "lr": 0.0003, "trainer.total_training_steps": 29, "strategy": "adversarial"})
        for step in range(29):
            mlflow.log_metric("train/loss", 1.0 / (step + 1), step=step)
        mlflow.log_metric("val/acc", 0.5, step=20)
        mlflow.log_metric("val/acc", float("nan"), step=28)
    try:
        with mlflow.start_run(run_name="s1"):
            mlflow.log_param("seed", 1)
            mlflow.log_metric("train/loss", 2.0, step=0)
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    mlflow.set_tracking_uri("sqlite:///" + db)
    mlflow.set_experiment("sql-exp")
    with mlflow.start_run(run_name="q"):
        mlflow.log_param("seed", 5)
        mlflow.log_metric("val/acc", 0.25, step=3)
        mlflow.log_metric("val/acc", float("nan"), step=4)
""")


@pytest.fixture(scope="module")
def mlflow_results(tmp_path_factory):
    repo, sha = git_repo(tmp_path_factory.mktemp("mlflow-repo"))
    (repo / "log_runs.py").write_text(SCRIPT)
    import git

    with git.Repo(repo) as handle:  # commit the script: mlflow records the entry script's repo commit
        handle.index.add(["log_runs.py"])
        sha = handle.index.commit("script").hexsha
    results = tmp_path_factory.mktemp("mlflow-results")
    (results / "db").mkdir()
    env = {**os.environ, "MLFLOW_ALLOW_FILE_STORE": "true"}
    subprocess.run([sys.executable, "log_runs.py", str(results / "mlruns"), str(results / "db" / "mlflow.db")],
                   cwd=repo, env=env, check=True, timeout=300, capture_output=True)
    return results, sha


def _runs(results):
    discovery = discover_runs(results, config())
    return {(run.group, run.config.get("seed")): run for run in discovery.runs}, discovery


def test_file_store_and_sqlite(mlflow_results):
    results, sha = mlflow_results
    db_bytes = hashlib.sha256((results / "db" / "mlflow.db").read_bytes()).hexdigest()
    runs, discovery = _runs(results)
    assert discovery.problems == []
    s0, s1, sql = runs[("q201", 0)], runs[("q201", 1)], runs[("sql-exp", 5)]
    assert s0.source == "mlflow" and len(s0.id) == 32 and s0.state == "completed"
    assert s0.config["lr"] == 0.0003 and s0.config["strategy"] == "adversarial"  # params typed
    assert s0.max_steps == 29 and s0.seed == 0
    assert s0.git_sha == sha and s0.entry_point == "log_runs.py"
    assert [s for s, _ in s0.metrics["train/loss"]] == list(range(29))
    assert s0.metrics["val/acc"][0] == (20, 0.5) and s0.metrics["val/acc"][1][1] != s0.metrics["val/acc"][1][1]
    assert s1.state == "failed"
    assert sql.state == "completed" and sql.metrics["val/acc"][0] == (3, 0.25)
    assert sql.metrics["val/acc"][1][0] == 4 and sql.metrics["val/acc"][1][1] != sql.metrics["val/acc"][1][1]
    assert isinstance(s0.metrics["train/loss"], Series) and isinstance(sql.metrics["val/acc"], Series)
    # read-only: the database is byte-identical afterwards, and no journal was left behind
    assert hashlib.sha256((results / "db" / "mlflow.db").read_bytes()).hexdigest() == db_bytes
    assert sorted(p.name for p in (results / "db").iterdir()) == ["mlflow.db"]
    findings = audit_run_record(s0, config())
    rules = {f.rule for f in findings}
    assert "RA240" in rules and "RA230" in {f.rule for f in audit_run_record(s1, config())}
    # MLflow records the commit but not whether the tree was dirty: said once, as an info, with how to record it
    (dirty,) = [f for f in findings if f.rule == "RA203"]
    assert dirty.severity == "info" and "dirty state not recorded by this tracker (mlflow)" in dirty.message
    assert "mlflow.source.git.dirty" in dirty.message
    # the record's own times and the name people see
    assert s0.name == "s0" and s0.started_at <= s0.ended_at


def _clone_s0(results, tmp_path):
    import shutil

    runs, _ = _runs(results)
    s0 = Path(runs[("q201", 0)].folder)
    exp = tmp_path / "mlruns" / s0.parent.name
    exp.mkdir(parents=True)
    shutil.copy(s0.parent / "meta.yaml", exp / "meta.yaml")
    shutil.copytree(s0, exp / s0.name)
    return exp / s0.name


def _age_stamps(run_dir, seconds):
    """Make the run's own metric time stamps `seconds` old (what liveness reads, not the files' times)."""
    import time

    old = int((time.time() - seconds) * 1000)
    for path in (run_dir / "metrics").rglob("*"):
        if path.is_file():
            lines = [line.split(" ", 1) for line in path.read_text().splitlines()]
            path.write_text("".join(f"{old} {rest[0]}\n" if len(rest) == 1 and first.isdigit() else f"{first}\n"
                                    for first, *rest in lines))


def test_stale_running_float_steps_and_odd_lines(mlflow_results, tmp_path):
    results, _ = mlflow_results
    run_dir = _clone_s0(results, tmp_path)
    meta = (run_dir / "meta.yaml").read_text()
    meta = meta.replace("status: 3", "status: 1")
    meta = "\n".join("end_time: null" if line.startswith("end_time:") else line for line in meta.splitlines())
    (run_dir / "meta.yaml").write_text(meta + "\n")
    (run_dir / "metrics" / "lightning").write_text(
        "1700000000000 0.5 50.0\n"  # float step (Lightning)
        "1700000000001 0.25 100 eval_ds 1a2b3c\n"  # 5 fields: logged with dataset=
        "1700000000002 0.125\n"  # old 2-field line: step 0
        "1700000000003 inf 150\n"
        "garbage\n")
    _age_stamps(run_dir, 3 * 3600)  # silent for longer than stale-after (2 h), by its own time stamps
    discovery = discover_runs(tmp_path, config())
    (run,) = discovery.runs
    assert run.state == "killed"  # RUNNING with no end time = crashed
    assert run.metrics["lightning"][:3] == [(0, 0.125), (50, 0.5), (100, 0.25)]
    assert run.metrics["lightning"][3] == (150, float("inf"))
    assert run.problems and run.problems[0]["line"] == 5
    findings = audit_run_record(run, config())
    assert {"RA230", "RA240", "RA001"} <= {f.rule for f in findings}
    (ra001,) = [f for f in findings if f.rule == "RA001"]
    assert ra001.location.line == 5 and ra001.location.path.endswith("lightning")


def test_half_written_meta_is_ra001_and_others_still_read(mlflow_results, tmp_path):
    results, _ = mlflow_results
    run_dir = _clone_s0(results, tmp_path)
    sibling = run_dir.parent / ("f" * 32)
    import shutil

    shutil.copytree(run_dir, sibling)
    (sibling / "meta.yaml").write_text("artifact_uri: [unclosed\n")
    discovery = discover_runs(tmp_path, config())
    assert len(discovery.runs) == 1
    (problem,) = discovery.problems
    assert problem.location.path.endswith(os.path.join("f" * 32, "meta.yaml")) and problem.location.line >= 1


def test_unfinished_run_that_still_writes_is_running_not_killed(mlflow_results, tmp_path):
    results, _ = mlflow_results
    run_dir = _clone_s0(results, tmp_path)
    meta = (run_dir / "meta.yaml").read_text().replace("status: 3", "status: 1")
    meta = "\n".join("end_time: null" if line.startswith("end_time:") else line for line in meta.splitlines())
    (run_dir / "meta.yaml").write_text(meta + "\n")  # written just now: the job is alive
    (run,) = discover_runs(tmp_path, config()).runs
    assert run.state == "running"
    assert "RA230" not in {f.rule for f in audit_run_record(run, config())}
    age(run_dir, 3 * 3600)  # old files, but the record's own time stamps say it logged just now
    (run,) = discover_runs(tmp_path, config()).runs
    assert run.state == "running"
    _age_stamps(run_dir, 3 * 3600)  # a copy restored today: fresh files, metrics last logged 3 h ago
    (run,) = discover_runs(tmp_path, config()).runs
    assert run.state == "killed"
    assert "RA230" in {f.rule for f in audit_run_record(run, config())}
    # a longer stale-after keeps it alive
    (run,) = discover_runs(tmp_path, config(runs=RunsSettings(stale_after="1d"))).runs
    assert run.state == "running"
