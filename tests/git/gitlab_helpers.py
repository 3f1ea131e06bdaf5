"""Run records for the git layer's tests (their repositories: tests/repo_helpers.py)."""

from __future__ import annotations

from pathlib import Path


def write_run(results: Path, folder: str, record: str) -> Path:
    path = results / folder / "run.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(record)
    return path
