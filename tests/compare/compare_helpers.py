"""Writes the compare rules' example dicts as real results directories (native run.yaml files)."""

import importlib
import json
import os
import pkgutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

import auditor.rules.compare as compare_pack
from auditor.compare.examples import side_name


def compare_rule_classes():
    classes = []
    for info in sorted(pkgutil.iter_modules(compare_pack.__path__), key=lambda i: i.name):
        module = importlib.import_module(f"{compare_pack.__name__}.{info.name}")
        classes += [v for v in vars(module).values()
                    if isinstance(v, type) and getattr(v, "id", "") and v.__module__ == module.__name__]
    return classes


def write_runs(results: Path, records: list[dict]) -> Path:
    for record in records:
        folder = results / record["id"]
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "run.yaml").write_text(yaml.safe_dump(record, sort_keys=False), encoding="utf-8")
    return results


def write_example(results: Path, example: dict) -> list[str]:
    """The results dir of one example and the `audit compare` arguments that check it."""
    write_runs(results, example["baseline"] + example["treatment"])
    argv = ["compare", side_name(example["baseline"]), side_name(example["treatment"]), "--results", str(results),
            "--metric", example["metric"], "--format", "json"]
    if example.get("treatment_keys") is not None:
        argv += ["--treatment-keys", ",".join(example["treatment_keys"])]
    if example.get("higher_is_better") is not None:
        argv.append("--higher-is-better" if example["higher_is_better"] else "--lower-is-better")
    return argv


def rules_in(stdout: str) -> list[str]:
    return [f["rule"] for f in json.loads(stdout)["findings"]]


NESTED_SWEEP = textwrap.dedent("""
    import json, sys, mlflow
    mlflow.set_tracking_uri("file:" + sys.argv[1])
    for experiment, parents in json.loads(sys.argv[2]).items():
        mlflow.set_experiment(experiment)
        for name, lr, base in parents:
            with mlflow.start_run(run_name=name):  # the parent trains nothing: it groups the seeds
                mlflow.log_param("lr", lr)
                for seed in range(6):
                    with mlflow.start_run(run_name=f"{name}-s{seed}", nested=True):
                        mlflow.log_params({"lr": lr, "seed": seed, "max_steps": 10})
                        for step in (0, 5, 10):
                            acc = (base + seed / 100 + (seed % 2) * 0.004) * (step + 1) / 11
                            mlflow.log_metric("val/acc", acc, step=step)
""")


def write_nested_mlflow_sweep(root: Path, sweeps: dict) -> None:
    """MLflow nested runs written by the real client under ROOT/mlruns: {experiment: [[parent name, lr, base]]},
    a parent run per setting (logging only lr), a child run per seed 0-5 logging val/acc."""
    pytest.importorskip("mlflow")
    subprocess.run([sys.executable, "-c", NESTED_SWEEP, str(root / "mlruns"), json.dumps(sweeps)], check=True,
                   capture_output=True, env={**os.environ, "MLFLOW_ALLOW_FILE_STORE": "true"})
