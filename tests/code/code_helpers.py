"""Helpers for code-rule tests: run examples through the real scan pipeline in a temp dir."""

from __future__ import annotations

from pathlib import Path

from auditor.code.examples import example_files
from auditor.code.scan import scan_paths
from auditor.config import Config


def write_example(example, folder: Path) -> dict[str, str]:
    """A source string becomes example.py; a {path: source} dict becomes a small project."""
    written = example_files(example)
    for rel, text in written.items():
        target = folder / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    return written


def scan_example(example, folder: Path, config: Config | None = None):
    folder.mkdir(parents=True, exist_ok=True)
    files = write_example(example, folder)
    config = config or Config(root=folder)
    result = scan_paths([folder], config, use_cache=False, jobs=1, keep_index=True)
    return files, result
