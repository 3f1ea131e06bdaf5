"""Helpers for code-rule tests: run examples through the real scan pipeline in a temp dir."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

from auditor.code.scan import scan_paths
from auditor.config import Config

EXPECT = re.compile(r"#\s*expect:\s*([A-Z0-9, ]+)")


def write_example(example, folder: Path) -> dict[str, str]:
    """A source string becomes example.py; a {path: source} dict becomes a small project."""
    files = example if isinstance(example, dict) else {"example.py": example}
    written = {}
    for rel, source in files.items():
        text = textwrap.dedent(source).lstrip("\n")
        target = folder / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        written[rel] = text
    return written


def expected_lines(files: dict[str, str], rule_id: str) -> set[tuple[str, int]]:
    out = set()
    for rel, text in files.items():
        for number, line in enumerate(text.splitlines(), 1):
            match = EXPECT.search(line)
            if match and rule_id in [r.strip() for r in match.group(1).split(",")]:
                out.add((rel, number))
    return out


def scan_example(example, folder: Path, config: Config | None = None):
    folder.mkdir(parents=True, exist_ok=True)
    files = write_example(example, folder)
    config = config or Config(root=folder)
    result = scan_paths([folder], config, use_cache=False, jobs=1)
    return files, result
