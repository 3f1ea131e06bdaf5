"""Pre-commit hook latency: `audit scan --staged` (what the hook runs) and `audit scan --diff HEAD` on a large
repo with a 10-file change.

Builds a temp git repo of 2,000 committed trainer-like Python files, then edits 10 of them (one edit adds the
verl-style final-validation skip) and stages them. Times each command as a subprocess with a fresh
XDG_CACHE_HOME: cold (empty cache) and warm (the number a hook user feels; the median of three), each with the
child's CPU time (user + system, from getrusage): on a loaded machine the wall time grows, the CPU time does not.
Also prints the floor: `python -m auditor --help` (interpreter + CLI start-up).

Usage: python benchmarks/hook_latency.py [--files 2000] [--changed 10]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import git
from timing import installed_env, timed

MODULE = '''\
"""Trainer variant {i}."""
import random

import numpy as np
import torch


def seed_everything(seed):
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


class Trainer{i}:
    def __init__(self, model, loader, steps={steps}, test_freq={freq}):
        self.model = model
        self.train_dataloader = loader
        self.total_training_steps = steps
        self.test_freq = test_freq
        self.global_steps = 0

    def train_step(self, batch):
        loss = self.model(batch).mean() * {scale}
        loss.backward()
        return float(loss)

    def _validate(self):
        with torch.no_grad():
            return {{"val/acc": float(self.model.score())}}

    def fit(self):
        for batch in self.train_dataloader:
            is_last_step = self.global_steps >= self.total_training_steps
            self.train_step(batch)
            if is_last_step or self.global_steps % self.test_freq == 0:
{validate}
                self.log(val_metrics)
            self.global_steps += 1

    def log(self, metrics):
        print({i}, metrics)
'''
OK = "                val_metrics = self._validate()"
SKIP = '''\
                if is_last_step:
                    val_metrics = {}
                else:
                    val_metrics = self._validate()'''


def source(i: int, validate: str = OK, scale: float = 1.0) -> str:
    return MODULE.format(i=i, steps=100 + i % 50, freq=5 + i % 7, scale=scale, validate=validate)


def make_repo(root: Path, files: int) -> list[Path]:
    repo = git.Repo.init(root)
    with repo.config_writer() as cfg:
        cfg.set_value("user", "name", "Bench")
        cfg.set_value("user", "email", "bench@example.com")
    paths = []
    for i in range(files):
        path = root / f"pkg{i // 100:02d}" / f"trainer_{i:04d}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source(i))
        paths.append(path)
    for folder in {p.parent for p in paths}:
        (folder / "__init__.py").write_text("")
    repo.git.add(A=True)
    repo.index.commit("2,000 trainers")
    repo.close()
    return paths


def scan(repo: Path, env: dict, mode: tuple[str, ...] = ("--diff", "HEAD")) -> tuple[float, float, int, str]:
    run = timed([sys.executable, "-m", "auditor", "scan", *mode], cwd=repo, env=env)
    elapsed, cpu, proc = run.wall, run.cpu, run.proc
    if proc.returncode not in (0, 1):
        sys.exit(f"scan failed (exit {proc.returncode}):\n{proc.stderr}")
    last = (proc.stdout.strip().splitlines() or [""])[-1]
    return elapsed, cpu, proc.returncode, last


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--changed", type=int, default=10)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="hook-bench-"))
    try:
        t0 = time.perf_counter()
        paths = make_repo(tmp / "repo", args.files)
        print(f"repo: {args.files} files committed in {time.perf_counter() - t0:.1f} s; cpus={os.cpu_count()}; "
              f"load average {os.getloadavg()[0]:.2f}")
        step = max(1, len(paths) // args.changed)
        for n, i in enumerate(range(0, len(paths), step)[: args.changed]):
            paths[i].write_text(source(i, validate=SKIP if n == 0 else OK, scale=2.0))
        env = installed_env(XDG_CACHE_HOME=str(tmp / "cache"))
        env.pop("CI", None)

        floor = timed([sys.executable, "-m", "auditor", "--help"], env=env)
        print(f"{'floor (audit --help)':<26} {floor.wall:6.3f} s  cpu {floor.cpu:.3f} s")
        subprocess.run(["git", "add", "-A"], cwd=tmp / "repo", check=True)
        for mode in (("--staged",), ("--diff", "HEAD")):
            name = " ".join(mode)
            cold, cpu, code, last = scan(tmp / "repo", env, mode)
            print(f"{name + ' cold':<26} {cold:6.3f} s  cpu {cpu:.3f} s  exit {code}  [{last}]")
            warm = [scan(tmp / "repo", env, mode)[:2] for _ in range(3)]
            print(f"{name + ' warm (median)':<26} {statistics.median(w for w, _ in warm):6.3f} s  "
                  f"cpu {statistics.median(c for _, c in warm):.3f} s  "
                  f"(runs: {', '.join(f'{w:.3f}' for w, _ in warm)})")
        print(f"{args.changed} of {args.files} files changed; load average after {os.getloadavg()[0]:.2f}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
