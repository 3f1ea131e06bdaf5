"""A plugin rule pack whose rules raise, one per scope, written into a temp dir for the crash tests."""

from __future__ import annotations

import textwrap
from pathlib import Path

PACK = '''
from auditor.code.rule_base import ModuleRule, ProjectRule
from auditor.rule import CompareRule, DocsRule, ReplayRule, RunRule


class CodeBoom(ModuleRule):
    id = "RA991"
    name = "code-boom"
    prefilter = ("boom",)

    def check(self, ctx, context=None):
        yield from ()
        raise ZeroDivisionError("division by zero in a plugin")


class ProjectBoom(ProjectRule):
    id = "RA992"
    name = "project-boom"

    def check(self, index, config):
        raise KeyError("missing")


class RunBoom(RunRule):
    id = "RA993"
    name = "run-boom"

    def check(self, run, _context):
        if run.id.startswith("boom"):
            raise RuntimeError("run rule bug")
        return ()


class CompareBoom(CompareRule):
    id = "RA994"
    name = "compare-boom"

    def check(self, comparison):
        raise ValueError("compare rule bug")


class DocsBoom(DocsRule):
    id = "RA995"
    name = "docs-boom"

    def check(self, claim):
        raise IndexError("docs rule bug")


class ReplayBoom(ReplayRule):
    id = "RA996"
    name = "replay-boom"

    def check(self, result):
        raise AttributeError("replay rule bug")
'''


def write_pack(folder: Path, name: str = "crashpack", source: str = PACK) -> Path:
    """`folder/name/rules.py`; put `folder` on the import path (PYTHONPATH) and `plugins = [name]` in the config."""
    package = folder / name
    package.mkdir(parents=True, exist_ok=True)
    (package / "__init__.py").write_text("", encoding="utf-8")
    (package / "rules.py").write_text(textwrap.dedent(source), encoding="utf-8")
    return folder


def write_config(root: Path, name: str = "crashpack", extra: str = "") -> Path:
    path = root / "pyproject.toml"
    path.write_text(f'[tool.auditor]\nplugins = ["{name}"]\n{extra}', encoding="utf-8")
    return path
