"""`audit compare` beyond native group records: a broken side, MLflow-sourced runs, seeds only in config."""

import json
import os
import subprocess
import sys
import textwrap

from compare_helpers import write_runs
from cli_helpers import run_cli


def _sides(seed_in_config=False):
    records = []
    # six seeds a side: fewer cannot let the exact sign-flip test reach p <= 0.05 (RA310)
    for group, values in (("base", [0.50, 0.52, 0.49, 0.51, 0.50, 0.53]), ("treat", [0.60, 0.61, 0.58, 0.62, 0.59, 0.60])):
        for seed, value in enumerate(values):
            record = {"id": f"{group}-s{seed}", "group": group, "config": {"lr": 0.1, "aqn": group == "treat"},
                      "status": {"state": "completed", "exit_code": 0}, "metrics": {"val/acc": [[10, value]]}}
            if seed_in_config:
                record["config"]["trainer"] = {"seed": seed}
            else:
                record["seed"] = seed
            records.append(record)
    return records


def test_a_broken_record_named_as_a_side_is_exit_2_with_file_and_field(tmp_path):
    results = write_runs(tmp_path / "results", _sides())
    (results / "lost").mkdir()
    (results / "lost" / "run.yaml").write_text("id: lost\nseed: [1, 2]\nmetrics: {val/acc: [[10, 0.5]]}\n")
    proc = run_cli("compare", "base", "lost", "--results", results, "--metric", "val/acc", cwd=tmp_path)
    assert proc.returncode == 2 and "internal error" not in proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert "lost/run.yaml" in line and "seed:" in line, line
    # the same broken record is only an RA001 warning when the sides asked for are intact
    proc = run_cli("compare", "base", "treat", "--results", results, "--metric", "val/acc", "--format", "json",
                   cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    document = json.loads(proc.stdout)
    assert [f["rule"] for f in document["findings"]] == ["RA001"]
    assert document["comparison"]["verdict"] == "supported"


def test_seeds_recorded_only_in_config_are_paired(tmp_path):
    results = write_runs(tmp_path / "results", _sides(seed_in_config=True))
    proc = run_cli("compare", "base", "treat", "--results", results, "--metric", "val/acc", "--format", "json",
                   cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)["comparison"]["rows"]
    assert [row["seed"] for row in rows] == [0, 1, 2, 3, 4, 5], rows


def test_mlflow_experiments_are_the_groups(tmp_path):
    """Runs written by the real mlflow client into a file store; each experiment is a condition."""
    script = textwrap.dedent(f"""
        import mlflow
        mlflow.set_tracking_uri("file://{tmp_path}/results/mlruns")
        for exp, accs in (("base", [0.50, 0.52, 0.49, 0.51, 0.50, 0.53]), ("treat", [0.60, 0.61, 0.58, 0.62, 0.59, 0.60])):
            mlflow.set_experiment(exp)
            for seed, acc in enumerate(accs):
                with mlflow.start_run():
                    mlflow.log_params({{"seed": seed, "lr": 0.1, "aqn": exp == "treat"}})
                    mlflow.log_metric("train_loss", 0.5, step=9)
                    mlflow.log_metric("val_acc", acc - 0.1, step=5)
                    mlflow.log_metric("val_acc", acc, step=9)
    """)
    env = {**os.environ, "MLFLOW_ALLOW_FILE_STORE": "true", "MLFLOW_TRACKING_URI": ""}
    subprocess.run([sys.executable, "-c", script], check=True, env=env, capture_output=True, timeout=300)
    proc = run_cli("compare", "base", "treat", "--results", tmp_path / "results", "--metric", "val_acc",
                   "--format", "json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)["comparison"]
    assert summary["verdict"] == "supported" and summary["baseline"] == "base"
    assert [row["seed"] for row in summary["rows"]] == [0, 1, 2, 3, 4, 5]
    assert abs(summary["effect"] - 0.0917) < 1e-3
