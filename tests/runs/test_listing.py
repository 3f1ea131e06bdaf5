"""Finding runs: `audit runs`, display names as RUN_ID, ambiguity, suggestions, and empty folders."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from tests.cli_helpers import run_cli

from .helpers import write_record


def _native(results, run_id, group, seed, **extra):
    record = {"id": run_id, "group": group, "seed": seed, "config": {"lr": 0.1, "seed": seed},
              "git": {"sha": "e2dfbd8c0a", "dirty": False}, "status": {"state": "completed", "exit_code": 0},
              "metrics": {"val/acc": [[10, 0.5 + seed / 100]]}, **extra}
    write_record(results / run_id, record)


MLFLOW = textwrap.dedent("""
    import sys, mlflow
    mlflow.set_tracking_uri("file:" + sys.argv[1])
    mlflow.set_experiment("wide")
    for name in sys.argv[2:]:
        with mlflow.start_run(run_name=name):
            mlflow.log_params({"seed": 0, "lr": 0.1})
            mlflow.log_metric("val/acc", 0.7, step=10)
""")


@pytest.fixture
def lab(tmp_path):
    pytest.importorskip("mlflow")
    results = tmp_path / "results"
    for seed in (0, 1):
        _native(results, f"base-s{seed}", "base", seed)
    subprocess.run([sys.executable, "-c", MLFLOW, str(results / "mlruns"), "wide-s0", "shared-name"], check=True,
                   capture_output=True, env={**os.environ, "MLFLOW_ALLOW_FILE_STORE": "true"})
    _native(results, "native-shared", "base", 5)
    os.makedirs(results / "tb")
    return results


def test_runs_lists_one_line_per_run_and_json(lab):
    proc = run_cli("runs", "--results", lab, "--format", "json", cwd=lab)
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)["runs"]
    by_name = {row["name"] or row["id"]: row for row in rows}
    assert set(by_name) == {"base-s0", "base-s1", "native-shared", "wide-s0", "shared-name"}
    wide = by_name["wide-s0"]
    assert wide["tracker"] == "mlflow" and wide["group"] == "wide" and wide["seed"] == 0 and len(wide["id"]) == 32
    assert wide["state"] == "completed" and wide["folder"].startswith("mlruns/")
    assert by_name["base-s0"]["sha"] == "e2dfbd8c0a" and by_name["base-s0"]["dirty"] is False
    text = run_cli("runs", "--results", lab, cwd=lab).stdout
    assert text.splitlines()[0].split() == ["id", "name", "group", "seed", "state", "sha", "dirty", "tracker", "folder"]
    assert "5 run(s)" in text
    groups = json.loads(run_cli("runs", "--results", lab, "--groups", "--format", "json", cwd=lab).stdout)["groups"]
    assert {g["group"]: (g["runs"], g["seeds"], g["trackers"]) for g in groups} == {
        "base": (3, [0, 1, 5], ["native"]), "wide": (2, [0], ["mlflow"])}
    filtered = json.loads(run_cli("runs", "--results", lab, "--where", "tracker=mlflow", "--format", "json",
                                  cwd=lab).stdout)["runs"]
    assert {row["name"] for row in filtered} == {"wide-s0", "shared-name"}
    seeds = json.loads(run_cli("runs", "--results", lab, "--seeds", "1,5", "--format", "json", cwd=lab).stdout)["runs"]
    assert sorted(row["id"] for row in seeds) == ["base-s1", "native-shared"]


def test_a_unique_display_name_is_a_run_id_and_an_unknown_one_gets_suggestions(lab):
    proc = run_cli("run", "wide-s0", "--results", lab, "--format", "json", cwd=lab)
    assert proc.returncode in (0, 1), proc.stderr
    assert json.loads(proc.stdout)["run"]["group"] == "wide"
    unknown = run_cli("run", "wide-s9", "--results", lab, cwd=lab)
    assert unknown.returncode == 2 and "did you mean wide-s0" in unknown.stderr and "audit runs" in unknown.stderr


def test_an_ambiguous_display_name_is_exit_2_listing_the_candidates(lab):
    subprocess.run([sys.executable, "-c", MLFLOW, str(lab / "mlruns"), "shared-name"], check=True, capture_output=True,
                   env={**os.environ, "MLFLOW_ALLOW_FILE_STORE": "true"})
    proc = run_cli("run", "shared-name", "--results", lab, cwd=lab)
    assert proc.returncode == 2
    assert "'shared-name' is the display name of 2 runs" in proc.stderr and proc.stderr.count("[mlflow") == 2


@pytest.mark.parametrize("command", [["run", "anything"], ["runs"], ["nightly"]])
def test_an_empty_folder_is_not_a_pass(tmp_path, command):
    empty = tmp_path / "empty"
    (empty / "logs").mkdir(parents=True)
    (empty / "logs" / "notes.txt").write_text("no runs here\n")
    args = [command[0], *command[1:]]
    if command[0] == "nightly":
        args += [str(empty), "--out", str(tmp_path / "report"), "--no-repo"]
    else:
        args += ["--results", str(empty)]
    proc = run_cli(*args, cwd=tmp_path)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert "no runs found here" in proc.stderr and "is this the right folder?" in proc.stderr
    # configurable: an empty folder may be fine
    (tmp_path / "pyproject.toml").write_text("[tool.auditor.runs]\nallow-empty = true\n")
    if command[0] != "run":  # a RUN_ID asked for and not there is always an error
        assert run_cli(*args, cwd=tmp_path).returncode == 0
