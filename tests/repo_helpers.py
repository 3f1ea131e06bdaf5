"""Shared by the tests of every area: real git repositories built with gitpython in temp dirs."""

from __future__ import annotations

from pathlib import Path

import git

DAY = 86400
JAN_1_2026 = 1767268800  # 2026-01-01T12:00:00Z


def make_repo(root: Path, commits: list[tuple[str, dict[str, str | None]]]) -> tuple[Path, list[str]]:
    """Create a repo at `root` with one commit per (message, {path: content or None to delete}).

    Returns the path and the full SHAs, oldest first. Author dates are fixed so output is stable.
    """
    repo = git.Repo.init(root)
    with repo.config_writer() as cfg:
        cfg.set_value("user", "name", "Lab Member")
        cfg.set_value("user", "email", "lab@example.org")
        cfg.set_value("commit", "gpgsign", "false")
    shas = []
    for n, (message, files) in enumerate(commits, start=1):
        added = []
        for path, content in files.items():
            full = root / path
            if content is None:
                repo.index.remove([path], working_tree=True)
                continue
            full.parent.mkdir(parents=True, exist_ok=True)
            full.write_text(content)
            added.append(path)
        if added:
            repo.index.add(added)
        stamp = f"{JAN_1_2026 + (n - 1) * DAY} +0000"  # commit n on 2026-01-0n: stable output
        commit = repo.index.commit(message, author_date=stamp, commit_date=stamp)
        shas.append(commit.hexsha)
    repo.close()
    return root, shas


# The smallest model module a replay can import: build() and evaluate(model).
TINY_MODEL = """\
import torch
from torch import nn


def build() -> nn.Module:
    torch.manual_seed(0)
    return nn.Linear(4, 2)


def evaluate(model) -> dict:
    return {"val/acc": 0.5}
"""


def tinylab(model: str = TINY_MODEL) -> dict[str, str]:
    """The files of a `tinylab` package whose `tinylab.model` module is `model` (a replay's model and evaluate)."""
    return {"tinylab/__init__.py": "", "tinylab/model.py": model}
