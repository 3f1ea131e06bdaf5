"""Discovery benchmark: 10,000 run folders (native YAML/JSON, MLflow file store, some broken) in a temp dir.

Prints runs/s for discovery + parsing, and for discovery + parsing + audit_run_record.
Usage: python benchmarks/discover_runs.py [--runs 10000]
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import tempfile
import time
from pathlib import Path

import yaml

from auditor.config import Config
from auditor.runs.audit import audit_run_record
from auditor.runs.discover import discover_runs


def native_record(index: int, rng: random.Random) -> dict:
    steps = 29
    return {
        "id": f"exp{index // 10:04d}-s{index % 10}",
        "group": f"exp{index // 10:04d}",
        "seed": index % 10,
        "git": {"sha": f"{rng.getrandbits(160):040x}", "dirty": rng.random() < 0.1},
        "config": {"lr": 3e-4, "trainer": {"total_training_steps": steps, "test_freq": 20}, "strategy": "adv"},
        "status": {"state": "completed", "exit_code": 0, "elapsed_s": 6856},
        "metrics": {"train/loss": [[s, 1.0 / (s + 1)] for s in range(steps)],
                    "val/acc": [[0, 0.08], [20, 0.6], [28, 0.7]]},
        "reported": {"val/acc": 0.7, "step": 28},
    }


def write_mlflow_run(root: Path, index: int) -> None:
    exp = root / "mlruns" / "1"
    if not (exp / "meta.yaml").exists():
        exp.mkdir(parents=True, exist_ok=True)
        (exp / "meta.yaml").write_text("experiment_id: '1'\nname: bench\nlifecycle_stage: active\n")
    run_id = f"{index:032x}"
    run = exp / run_id
    for sub in ("params", "metrics", "tags"):
        (run / sub).mkdir(parents=True)
    (run / "meta.yaml").write_text(f"run_id: {run_id}\nstatus: 3\nstart_time: 1\nend_time: 2\nlifecycle_stage: active\n")
    (run / "params" / "seed").write_text(str(index % 10))
    (run / "params" / "lr").write_text("0.0003")
    (run / "tags" / "mlflow.source.git.commit").write_text("e2dfbd8" * 5 + "ab")
    (run / "metrics" / "train_loss").write_text("".join(f"170000000{s} {1.0 / (s + 1)} {s}\n" for s in range(29)))


def generate(root: Path, count: int) -> None:
    rng = random.Random(0)
    for index in range(count):
        kind = index % 100
        folder = root / "native" / f"run{index:05d}"
        if kind < 80:
            folder.mkdir(parents=True)
            (folder / "run.yaml").write_text(yaml.safe_dump(native_record(index, rng)))
        elif kind < 92:
            folder.mkdir(parents=True)
            (folder / "run.json").write_text(json.dumps(native_record(index, rng)))
        elif kind < 99:
            write_mlflow_run(root, index)
        else:
            folder.mkdir(parents=True)
            (folder / "run.yaml").write_text("id: broken\nconfig: {lr: [1\n")  # half-written


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10_000)
    args = parser.parse_args()
    config = Config(root=Path("."))
    root = Path(tempfile.mkdtemp(prefix="auditor-bench-"))
    cache = None
    try:
        start = time.perf_counter()
        generate(root, args.runs)
        print(f"generated {args.runs} run folders in {time.perf_counter() - start:.1f}s")
        start = time.perf_counter()
        discovery = discover_runs(root, config)
        parse_s = time.perf_counter() - start
        start = time.perf_counter()
        findings = sum(len(audit_run_record(run, config)) for run in discovery.runs)
        audit_s = time.perf_counter() - start
        total = len(discovery.runs) + len(discovery.problems)
        print(f"discovered {len(discovery.runs)} runs and {len(discovery.problems)} RA001 problems "
              f"in {parse_s:.2f}s: {total / parse_s:,.0f} run folders/s (discovery + parse)")
        print(f"audit_run_record on {len(discovery.runs)} runs: {audit_s:.2f}s, {findings} findings; "
              f"discovery + parse + audit: {total / (parse_s + audit_s):,.0f} runs/s")
        # The discovery cache: the first pass reads and stores every folder, the second opens none.
        cache = Path(tempfile.mkdtemp(prefix="auditor-bench-cache-"))  # never inside the results dir
        cached_config = Config(root=Path("."), cache_dir_setting=str(cache))
        time.sleep(2.1)  # files written in the last 2 s are not trusted ("racy clean")
        for label in ("discovery cache, cold", "discovery cache, warm"):
            start = time.perf_counter()
            found = discover_runs(root, cached_config, cache=True)
            elapsed = time.perf_counter() - start
            print(f"{label}: {elapsed:.2f}s, {len(found.runs)} runs, {found.from_cache} folders from the cache: "
                  f"{total / elapsed:,.0f} run folders/s")
    finally:
        shutil.rmtree(root, ignore_errors=True)
        if cache is not None:
            shutil.rmtree(cache, ignore_errors=True)


if __name__ == "__main__":
    main()
