"""Nightly throughput: `audit nightly` over 10,000 generated native run records.

Builds a temp lab: a small git repo with two commits (one with the verl-style final-validation skip) and a
results dir of run.yaml records (groups of 5 seeds, ~20-point metric histories, a few failed runs) with a
comparisons.yaml. Runs `python -m auditor nightly` as a subprocess with a fresh XDG_CACHE_HOME, local
executor and default jobs, and prints seconds and runs/s: cold, incremental (nothing new: the discovery
cache answers every run folder, the state every audit) and after touching 10 runs.

Usage: python benchmarks/nightly_throughput.py [--runs 10000]
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import git
import yaml

TRAINER = '''\
class Trainer:
    def fit(self):
        for batch in self.train_dataloader:
            is_last_step = self.global_steps >= self.total_training_steps
            self.train_step(batch)
            if is_last_step or self.global_steps % self.test_freq == 0:
{body}
                self.log(val_metrics)
            self.global_steps += 1
'''
OK_BODY = "                val_metrics = self._validate()"
SKIP_BODY = '''\
                if is_last_step:
                    val_metrics = {}
                else:
                    val_metrics = self._validate()'''


def make_repo(root: Path) -> list[str]:
    repo = git.Repo.init(root)
    with repo.config_writer() as cfg:
        cfg.set_value("user", "name", "Bench")
        cfg.set_value("user", "email", "bench@example.com")
    shas = []
    for body in (OK_BODY, SKIP_BODY):
        (root / "trainer.py").write_text(TRAINER.format(body=body))
        repo.index.add(["trainer.py"])
        shas.append(repo.index.commit("trainer").hexsha)
    repo.close()
    return shas


def record(index: int, shas: list[str], rng: random.Random) -> dict:
    group, seed = f"g{index // 5:04d}", index % 5
    steps = 95
    failed = rng.random() < 0.01
    last = rng.randrange(40, steps) if failed else steps
    val = [(s, round(0.1 + 0.6 * s / steps + rng.gauss(0, 0.01), 4)) for s in range(0, last + 1, 5)]
    return {
        "id": f"{group}-s{seed}", "group": group, "seed": seed,
        "git": {"sha": shas[(index // 5) % 2], "dirty": rng.random() < 0.02},
        "config": {"strategy": group, "lr": 3.0e-4, "seed": seed,
                   "trainer": {"total_training_steps": steps, "test_freq": 5}},
        "status": {"state": "failed" if failed else "completed", "exit_code": 1 if failed else 0,
                   "elapsed_s": rng.randrange(1000, 9000)},
        "train": {"max_steps": steps},
        "eval": {"quant": "none", "dataset": "gsm8k-test", "framework": "v2"},
        "metrics": {"val/acc": [[s, v] for s, v in val],
                    "train/loss": [[s, round(2.0 / (s + 1), 5)] for s in range(0, last + 1, 5)]},
        "reported": {"val/acc": val[-1][1], "step": val[-1][0]},
    }


def make_results(root: Path, count: int, shas: list[str]) -> None:
    rng = random.Random(0)
    for i in range(count):
        folder = root / f"run{i:05d}"
        folder.mkdir(parents=True)
        (folder / "run.yaml").write_text(yaml.safe_dump(record(i, shas, rng), sort_keys=False))
    comparisons = [
        {"name": "g0001-vs-g0000", "baseline": "g0000", "treatment": "g0001", "metric": "val/acc",
         "higher_is_better": True, "treatment_keys": ["strategy"]},
        {"name": "g0003-vs-g0002", "baseline": "g0002", "treatment": "g0003", "metric": "val/acc",
         "higher_is_better": True, "treatment_keys": ["strategy"]},
    ]
    (root / "comparisons.yaml").write_text(yaml.safe_dump(comparisons, sort_keys=False))


def nightly(repo: Path, results: Path, out: Path, env: dict) -> tuple[float, str]:
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "auditor", "nightly", str(results), "--repo", str(repo),
                           "--out", str(out), "--no-replay", "--verbose"],
                          cwd=repo, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode not in (0, 1):
        sys.exit(f"nightly failed (exit {proc.returncode}):\n{proc.stderr}")
    phases = [line.split()[1:3] for line in proc.stderr.splitlines()
              if line.startswith("audit: ") and line.rstrip().endswith(" s")]
    summary = (proc.stdout.strip().splitlines() or [""])[0]
    cached = re.search(r"(\d+) run folder\(s\) unchanged on disk", proc.stderr)
    reused = f"; {cached.group(1)} run folders from the discovery cache" if cached else ""
    return elapsed, f"{summary}{reused}; phases: " + ", ".join(f"{name} {secs}s" for name, secs in phases)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10_000)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="nightly-bench-"))
    try:
        shas = make_repo(tmp / "repo")
        t0 = time.perf_counter()
        make_results(tmp / "results", args.runs, shas)
        print(f"generated {args.runs} runs in {time.perf_counter() - t0:.1f} s; cpus={os.cpu_count()}; "
              f"load average {os.getloadavg()[0]:.2f}")
        env = {**os.environ, "XDG_CACHE_HOME": str(tmp / "cache")}
        env.pop("CI", None)
        time.sleep(2.1)  # the discovery cache trusts no file written in the last 2 s ("racy clean")
        for label in ("cold", "incremental (nothing new)"):
            elapsed, line = nightly(tmp / "repo", tmp / "results", tmp / "out", env)
            print(f"{label:<28} {elapsed:7.2f} s  {args.runs / elapsed:8.0f} runs/s   [{line}]")
        for i in range(0, args.runs, max(1, args.runs // 10))[:10]:  # touch 10 runs: a changed record
            path = tmp / "results" / f"run{i:05d}" / "run.yaml"
            data = yaml.safe_load(path.read_text())
            data["status"]["elapsed_s"] += 1
            path.write_text(yaml.safe_dump(data, sort_keys=False))
        elapsed, line = nightly(tmp / "repo", tmp / "results", tmp / "out", env)
        print(f"{'after touching 10 runs':<28} {elapsed:7.2f} s  {args.runs / elapsed:8.0f} runs/s   [{line}]")
        print(f"load average after: {os.getloadavg()[0]:.2f}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
