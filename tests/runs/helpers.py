"""Shared helpers for the runs tests: writing native records, a real git repo, a default config."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from auditor.config import Config


def config(**overrides) -> Config:
    return Config(root=Path("."), **overrides)


def write_record(folder: Path, record: dict, fmt: str = "yaml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    if fmt == "json":
        path = folder / "run.json"
        path.write_text(json.dumps(record))
    else:
        path = folder / "run.yaml"
        path.write_text(yaml.safe_dump(record, sort_keys=False))
    return path


def git_repo(path: Path):
    """A real git repository with one commit; returns (path, head sha)."""
    import git

    repo = git.Repo.init(path)
    with repo.config_writer() as cw:
        cw.set_value("user", "name", "t")
        cw.set_value("user", "email", "t@example.com")
    (path / "train.py").write_text("print('train')\n")
    repo.index.add(["train.py"])
    sha = repo.index.commit("first").hexsha
    repo.close()
    return path, sha


def age(folder: Path, seconds: float) -> None:
    """Make every file under folder look last written `seconds` ago (a run that went silent)."""
    import os
    import time

    stamp = time.time() - seconds
    for path in [folder, *folder.rglob("*")]:
        os.utime(path, (stamp, stamp), follow_symlinks=False)
