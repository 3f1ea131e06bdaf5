"""Peak memory and time of `audit run` on an MLflow file-store run whose one metric file holds N lines
(default 2,900,000, about 100 MB). Prints figures; asserts nothing.

    python benchmarks/big_metric_memory.py [LINES]
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def write_store(root: Path, lines: int) -> Path:
    run = root / "mlruns" / "1" / "0123456789abcdef0123456789abcdef"
    for sub in ("metrics", "params", "tags"):
        (run / sub).mkdir(parents=True)
    (root / "mlruns" / "1" / "meta.yaml").write_text("experiment_id: '1'\nname: big\nlifecycle_stage: active\n")
    (run / "meta.yaml").write_text("run_id: 0123456789abcdef0123456789abcdef\nexperiment_id: '1'\nstatus: 3\n"
                                   "start_time: 1700000000000\nend_time: 1700003600000\nlifecycle_stage: active\n")
    (run / "params" / "seed").write_text("0")
    with open(run / "metrics" / "train_loss", "w") as handle:
        for step in range(lines):
            handle.write(f"{1700000000000 + step} {1.0 / (step + 1):.10f} {step}\n")
    return run / "metrics" / "train_loss"


def main() -> None:
    lines = int(sys.argv[1]) if len(sys.argv) > 1 else 2_900_000
    with tempfile.TemporaryDirectory() as tmp:
        metric = write_store(Path(tmp), lines)
        size = os.path.getsize(metric) / 1e6
        env = {**os.environ, "XDG_CACHE_HOME": str(Path(tmp) / "cache")}
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "auditor", "run", "0123456789abcdef0123456789abcdef", "--results",
                        str(Path(tmp) / "mlruns"), "--no-replay"], cwd=tmp, env=env, capture_output=True, check=False)
        elapsed = time.perf_counter() - start
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"metric file: {lines:,} lines, {size:.0f} MB; audit run: {elapsed:.1f} s, peak RSS {peak:.0f} MB")


if __name__ == "__main__":
    main()
