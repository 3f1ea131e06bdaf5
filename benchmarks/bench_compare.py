"""Figures for `audit compare` and `audit docs`: the statistics and the rules on large groups, and claim
extraction on a long doc. Prints timings; asserts nothing."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

from auditor.claims import check_docs
from auditor.compare import stats
from auditor.compare.api import ComparisonSpec, check_comparison
from auditor.compare.runsource import run_from_native
from auditor.config import Config


def _runs(n_seeds: int) -> list:
    rng = np.random.default_rng(0)
    runs = []
    for group, shift in (("base", 0.0), ("treat", 0.01)):
        for seed in range(n_seeds):
            curve = [[s, float(0.3 + shift + rng.normal(0, 0.02))] for s in range(0, 2001, 100)]
            runs.append(run_from_native({"id": f"{group}-s{seed}", "group": group, "seed": seed,
                                         "config": {"lr": 3e-4, "seed": seed, "fs": group == "treat"},
                                         "metrics": {"val/acc": curve}}, folder=f"/bench/{group}-s{seed}"))
    return runs


def timed(label: str, fn, repeat: int = 3) -> None:
    best = min(_once(fn) for _ in range(repeat))
    print(f"{label:<60} {best * 1000:9.1f} ms")


def _once(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    config = Config()
    for n in (5, 50, 500):
        x = np.random.default_rng(1).normal(size=n)
        timed(f"bootstrap CI, percentile, 10k reps, n={n} paired", lambda x=x: stats.bootstrap_ci(x * 0, x, paired=True))
        timed(f"bootstrap CI, BCa, 10k reps, n={n} unpaired",
              lambda x=x: stats.bootstrap_ci(x, x + 1, paired=False, method="bca"))
        runs = _runs(n)
        spec = ComparisonSpec("bench", "base", "treat", "val/acc", treatment_keys=["fs"])
        timed(f"check_comparison (all compare rules), {n} seeds per side", lambda spec=spec, runs=runs: check_comparison(spec, runs, config))
    runs = _runs(50)
    lines = ["# Results", ""]
    for i in range(2000):
        lines.append(f"base-s{i % 50} reached val/acc {0.3 + (i % 7) / 100:.4f} (see `results/summary_{i}.txt`).")
    with tempfile.TemporaryDirectory() as tmp:
        doc = Path(tmp) / "RESULTS.md"
        doc.write_text("\n".join(lines) + "\n")
        timed("check_docs, 2000-line doc, 100 runs", lambda: check_docs([str(doc)], runs, tmp, config))
        found = check_docs([str(doc)], runs, tmp, config)
        print(f"  findings: {len(found)} ({sum(f.rule == 'RA501' for f in found)} RA501, "
              f"{sum(f.rule == 'RA502' for f in found)} RA502)")


if __name__ == "__main__":
    main()
