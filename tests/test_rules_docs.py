"""docs/rules/ is generated from the rule modules; this fails when someone forgets `make docs`."""

from pathlib import Path

from auditor.rules_cli import generated_docs, rule_markdown
from auditor.registry import rule_class

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
