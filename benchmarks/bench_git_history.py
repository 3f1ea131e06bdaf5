"""Git layer figures: reading trees at a SHA, scanning code at SHAs, and `audit diff` over a commit range.

Builds a synthetic repo (FILES modules, COMMITS commits touching one module each, one commit adding a
hazard), then prints wall times. The scanner caches findings per blob hash, so the warm numbers show what
many runs at many SHAs cost. Usage: python benchmarks/bench_git_history.py [FILES] [COMMITS]
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import git


def module(i: int, version: int) -> str:
    body = "\n".join(f"    total += {j} * x  # step {j}" for j in range(60))
    return (f"import torch\nimport lab.m{(i + 1) % 50}\n\nVERSION = {version}\n\n\n"
            f"def f{i}(x):\n    total = 0\n{body}\n    return total\n")


def build(root: Path, files: int, commits: int) -> tuple[Path, list[str]]:
    repo = git.Repo.init(root)
    with repo.config_writer() as cfg:
        cfg.set_value("user", "name", "bench").set_value("user", "email", "bench@example.org")
    (root / "lab").mkdir()
    (root / "lab" / "__init__.py").write_text("")
    (root / "train.py").write_text("import lab.m0\n")
    for i in range(files):
        (root / "lab" / f"m{i}.py").write_text(module(i, 0))
    repo.git.add(A=True)
    shas = [repo.index.commit("initial").hexsha]
    for n in range(1, commits + 1):
        i = n % files
        text = module(i, n)
        if n == commits // 2:
            text += "\n\ndef resume(path):\n    return torch.load(path)\n"
        (root / "lab" / f"m{i}.py").write_text(text)
        repo.index.add([f"lab/m{i}.py"])
        shas.append(repo.index.commit(f"change m{i} ({n})").hexsha)
    return root, shas


def timed(label: str, fn):
    start = time.perf_counter()
    value = fn()
    print(f"{label:<52} {time.perf_counter() - start:8.2f} s")
    return value


def main() -> None:
    files = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    commits = int(sys.argv[2]) if len(sys.argv) > 2 else 100
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["XDG_CACHE_HOME"] = str(Path(tmp) / "cache")
        from auditor.config import Config
        from auditor.runs.diffing import diff_runs
        from auditor.runs.record import Run
        from auditor.vcs import Repo, scan_at_sha

        path, shas = timed(f"build repo ({files} files, {commits} commits)", lambda: build(Path(tmp) / "repo", files, commits))
        config = Config(root=path)
        repo = Repo(path)
        timed("python_files_at(first) (cold)", lambda: repo.python_files_at(shas[0]))
        timed("scan_at_sha(first) (cold cache)", lambda: scan_at_sha(repo, shas[0], config))
        timed("scan_at_sha(first) again (warm cache)", lambda: scan_at_sha(repo, shas[0], config))
        timed("scan_at_sha(last) (one file per commit differs)", lambda: scan_at_sha(repo, shas[-1], config))
        a = Run(id="a", folder=tmp, git_sha=shas[0], entry_point="train.py")
        b = Run(id="b", folder=tmp, git_sha=shas[-1], entry_point="train.py")
        result = timed(f"diff_runs over {commits} commits (new Repo)", lambda: diff_runs(a, b, Repo(path), config))
        timed(f"diff_runs over {commits} commits again (warm)", lambda: diff_runs(a, b, Repo(path), config))
        intro = [(h.finding.rule, h.commit.summary if h.commit else None) for h in result.introduced]
        print(f"hazards introduced: {intro}")


if __name__ == "__main__":
    main()
