"""The same cold nightly of 10,000 generated runs on the local process pool, on a real local Slurm and on a
real Ray head (both started by tests/clusters.py, as root, and stopped at the end): seconds, runs/s, the
tasks each executor ran, and the per-task overhead (an array of empty tasks: wall time per task, times the
slots that ran them in parallel).

Usage: python benchmarks/nightly_cluster.py [--runs 10000] [--executors local,slurm,ray]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))
import clusters
from nightly_throughput import make_repo, make_results


def nightly(executor: str, repo: Path, results: Path, tmp: Path, env: dict) -> tuple[float, str]:
    out, cache = tmp / f"out-{executor}", tmp / f"cache-{executor}"
    argv = [sys.executable, "-m", "auditor", "nightly", str(results), "--repo", str(repo), "--out", str(out),
            "--no-replay", "--verbose", "--executor", executor]
    start = time.perf_counter()
    proc = subprocess.run(argv, cwd=repo, env={**env, "XDG_CACHE_HOME": str(cache)}, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode not in (0, 1):
        sys.exit(f"nightly on {executor} failed (exit {proc.returncode}):\n{proc.stderr}")
    phases = [line.split()[1:3] for line in proc.stderr.splitlines()
              if line.startswith("audit: ") and line.rstrip().endswith(" s")]
    return elapsed, ", ".join(f"{name} {secs}s" for name, secs in phases)


def empty_task_overhead(executor: str, tasks: int, env: dict, tmp: Path) -> float:
    """Seconds per empty task on this executor, times its parallel slots: what a task costs before its work."""
    code = f"""
import os, time
from auditor.executors import make_executor, parse_minutes
ex = make_executor({executor!r}, folder={str(tmp / 'overhead-jobs')!r}, time=10)
start = time.perf_counter()
ex.map(parse_minutes, [1] * {tasks})
print(time.perf_counter() - start)
ex.close()
"""
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        sys.exit(f"overhead run on {executor} failed:\n{proc.stderr}")
    return float(proc.stdout.strip().splitlines()[-1]) * (os.cpu_count() or 1) / tasks


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--executors", default="local,slurm,ray")
    args = parser.parse_args()
    executors = args.executors.split(",")
    tmp = Path(tempfile.mkdtemp(prefix="nightly-cluster-bench-"))
    started = []
    try:
        shas = make_repo(tmp / "repo")
        make_results(tmp / "results", args.runs, shas)
        env = {k: v for k, v in os.environ.items() if k not in ("CI", "RAY_ADDRESS")}
        print(f"{args.runs} runs; cpus={os.cpu_count()}; load average {os.getloadavg()[0]:.2f}")
        time.sleep(2.1)  # the discovery cache trusts no file written in the last 2 s
        for executor in executors:
            run_env = dict(env)
            if executor == "slurm":
                slurm = clusters.Slurm(accounting=False).start()
                started.append(slurm)
                run_env.update(slurm.env)
            if executor == "ray":
                started.append(clusters.RayHead(cpus=os.cpu_count() or 1).start())
            elapsed, phases = nightly(executor, tmp / "repo", tmp / "results", tmp, run_env)
            overhead = empty_task_overhead(executor, 8 if executor == "slurm" else 200, run_env, tmp)
            print(f"{executor:<6} {elapsed:7.1f} s  {args.runs / elapsed:7.0f} runs/s  per-task overhead "
                  f"{overhead:6.3f} s   [{phases}]")
        reference = (tmp / f"out-{executors[0]}" / "findings.json").read_bytes()
        same = all((tmp / f"out-{e}" / "findings.json").read_bytes() == reference for e in executors)
        print(f"findings.json identical across {', '.join(executors)}: {same}")
    finally:
        for cluster in reversed(started):
            cluster.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
