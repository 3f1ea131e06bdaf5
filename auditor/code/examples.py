"""A code rule's example (a source string, or a {path: source} dict of a small project) as files in a
folder, scanned through the real pipeline: module and project rules, suppressions, every selected rule."""

from __future__ import annotations

import textwrap
from pathlib import Path

from auditor.findings import Finding


def example_files(example: str | dict[str, str]) -> dict[str, str]:
    """{relative path: text}: a source string is `example.py`; text is dedented, leading blank lines dropped."""
    files = example if isinstance(example, dict) else {"example.py": example}
    return {rel: textwrap.dedent(source).lstrip("\n") for rel, source in files.items()}


def findings_for_example(_cls, example, folder: Path, plugins: tuple[str, ...] = ()) -> list[Finding]:
    from auditor.code.scan import scan_paths
    from auditor.config import Config

    for rel, text in example_files(example).items():
        target = folder / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    return scan_paths([folder], Config(root=folder, plugins=list(plugins)), use_cache=False, jobs=1).findings
