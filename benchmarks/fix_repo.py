"""`audit scan --fix` on a generated 100k-line repository with 50 fixable findings (25 `torch.load` calls
whose result goes into `load_state_dict`, 25 unused suppressions), as a user runs it (a subprocess):
with the result cache warm from an earlier scan, and cold; then, in this process, the warm run split into
its parts (the first scan, the fixes, the scan after writing). Prints wall and CPU seconds and the load
average; asserts nothing. The runs keep Python's bytecode cache on (timing.installed_env).

    .venv/bin/python benchmarks/fix_repo.py [--files 100] [--lines 1000]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from timing import Timed, child_cpu, installed_env, load, timed

FUNCTION = """def step_{i}(x, y):
    total = 0
    for k in range(10):
        total += x * k + y  # accumulate
    return total

"""
LOAD = """def restore_{i}(model, path):
    model.load_state_dict(torch.load(path, map_location="cpu"))

"""
STALE = """def restore_{i}(model, path):
    model.load_state_dict(torch.load(path, weights_only=True))  # audit: ignore[RA170] our own file

"""


def build(root: Path, files: int, lines: int, fixable: int) -> int:
    """The repository; returns its line count."""
    total = 0
    for n in range(files):
        parts = ["import torch\n\n\n"]
        if n < fixable:
            parts.append((LOAD if n % 2 == 0 else STALE).format(i=n))
        body_lines = sum(p.count("\n") for p in parts)
        i = 0
        while body_lines < lines:
            parts.append(FUNCTION.format(i=i))
            body_lines += 6
            i += 1
        text = "".join(parts)
        folder = root / "pkg" / f"mod{n // 10}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"file{n}.py").write_text(text)
        total += text.count("\n")
    (root / "pyproject.toml").write_text("[tool.auditor]\n")
    return total


def audit(root: Path, cache: Path, *args: str) -> tuple[Timed, str]:
    run = timed([sys.executable, "-m", "auditor", "scan", ".", *args], cwd=root,
                env=installed_env(XDG_CACHE_HOME=str(cache)))
    return run, run.proc.stdout + run.proc.stderr


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=100)
    parser.add_argument("--lines", type=int, default=1000)
    parser.add_argument("--fixable", type=int, default=50)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="fix-bench-"))
    print(f"cpus={os.cpu_count()}; {load()}  (goal: --fix under 2 s)")
    try:
        for label, warm in (("warm cache (scanned before)", True), ("cold (no cache)", False)):
            root, cache = work / f"repo-{warm}", work / f"cache-{warm}"
            lines = build(root, args.files, args.lines, args.fixable)
            if warm:
                audit(root, cache)
            run, out = audit(root, cache, "--fix")
            summary = next((line for line in out.splitlines() if line.startswith("Fixed")), "?")
            print(f"audit scan --fix, {args.files} files, {lines} lines, {label}: {run.figures()}  ({summary})")
            run, out = audit(root, cache, "--fix")
            summary = next((line for line in out.splitlines() if line.startswith("Fixed")), "?")
            print(f"  second run (nothing left to fix):                      {run.figures()}  ({summary})")
        parts(work, args)
        print(load())
    finally:
        shutil.rmtree(work, ignore_errors=True)


def parts(work: Path, args) -> None:
    from auditor.code import fix as fixing
    from auditor.code.discover import discover
    from auditor.code.scan import scan_paths
    from auditor.config import load_config

    root, cache = work / "repo-parts", work / "cache-parts"
    build(root, args.files, args.lines, args.fixable)
    os.environ["XDG_CACHE_HOME"] = str(cache)
    config = load_config(root, None)
    scan_paths([root], config)  # the earlier scan that warms the cache

    def now() -> tuple[float, float]:  # wall, and CPU of this process and of the workers it waited for
        return time.perf_counter(), time.process_time() + child_cpu()

    def spent(since: tuple[float, float]) -> str:
        wall, cpu = now()
        return f"{wall - since[0]:5.2f} s (cpu {cpu - since[1]:5.2f})"

    start = now()
    result = scan_paths([root], config)
    scanned = spent(start)
    start = now()
    files = {c.path: Path(c.full) for c in discover([root], config.root, config)}
    plans = fixing.plan(result.findings, files, config.root, config)
    fixing.write(plans)
    fixed = spent(start)
    start = now()
    scan_paths([root], config)
    print(f"  parts of the warm run: scan {scanned}, fixes {fixed} "
          f"({sum(len(p.fixed) for p in plans)} in {sum(p.changed for p in plans)} files), "
          f"scan after writing {spent(start)}")


if __name__ == "__main__":
    main()
