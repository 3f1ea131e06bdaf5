"""docs/rules/ is generated from the rule modules; this fails when someone forgets `make docs`."""

import os
import re
import subprocess
import sys
from pathlib import Path

from auditor.rules_cli import generated_docs, rule_markdown
from auditor.registry import rule_class
from cli_helpers import run_cli, without_torch

DOCS = Path(__file__).resolve().parents[1] / "docs" / "rules"


def test_rule_docs_are_current():
    pages = generated_docs()
    on_disk = {p.name for p in DOCS.glob("*.md")}
    assert on_disk == set(pages), "run `make docs` to regenerate docs/rules/"
    stale = [name for name, text in pages.items() if (DOCS / name).read_text(encoding="utf-8") != text]
    assert not stale, f"stale rule docs (run `make docs`): {stale}"


def test_rule_page_follows_the_template():
    page = rule_markdown(rule_class("RA001"))
    for heading in ("# RA001 input-unreadable", "## What it does", "## Why is this bad?"):
        assert heading in page


def _python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def test_examples_are_dedented_without_test_marks_and_folded_after_two():
    cls = rule_class("RA101")
    assert len(cls.bad) > 2, "the check needs a rule with more than two bad examples"
    page = rule_markdown(cls)
    assert "# expect:" not in page
    example = page.split("## Example", 1)[1].split("## Use instead", 1)[0]
    shown, folded = example.split("<details>", 1)
    assert len(_python_blocks(shown)) == 2
    assert f"<summary>{len(cls.bad) - 2} more</summary>" in folded
    assert len(_python_blocks(folded)) == len(cls.bad) - 2
    for block in _python_blocks(page):
        first = block.splitlines()[0]
        assert first and not first[0].isspace(), block


def test_explain_counts_the_folded_examples_and_shows_them_with_all():
    cls = rule_class("RA101")
    short, full = run_cli("explain", "RA101"), run_cli("explain", "RA101", "--all")
    assert f"({len(cls.bad) - 2} more: `audit explain RA101 --all`)" in short.stdout
    assert "# expect:" not in short.stdout + full.stdout
    assert len(_python_blocks(full.stdout)) == len(cls.bad) + len(cls.good)


def test_docs_are_written_without_torch(tmp_path):
    env = {**os.environ, **without_torch(tmp_path / "site")}
    proc = subprocess.run([sys.executable, "-m", "auditor.rules_cli", "--write-docs", str(tmp_path / "out")],
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "out" / "RA401.md").read_text(encoding="utf-8") == generated_docs()["RA401.md"]
