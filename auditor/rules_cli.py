"""`audit rules`, `audit explain RULE`, and the generated docs/rules/RA*.md pages."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
import yaml

from auditor.registry import all_rule_classes, rule_class
from auditor.rule import SCOPES, Rule

_FENCE = {"code": "python"}


def _example_text(example, scope: str) -> tuple[str, str]:
    """(language, text) of one example: code as Python (a project as one block per file), the rest as YAML."""
    if isinstance(example, str):
        return _FENCE.get(scope, "yaml"), example.strip("\n")
    if scope == "code" and isinstance(example, dict):
        parts = [f"# --- {path} ---\n{source.strip(chr(10))}" for path, source in sorted(example.items())]
        return "python", "\n\n".join(parts)
    return "yaml", yaml.safe_dump(example, sort_keys=False, default_flow_style=None, width=100).strip("\n")


def _params_lines(cls: type[Rule]) -> list[str]:
    if not cls.params:
        return []
    lines = ["## Parameters", "", "| name | default |", "|---|---|"]
    lines += [f"| `{name}` | `{json.dumps(value)}` |" for name, value in sorted(cls.params.items())]
    return lines + [""]


def rule_markdown(cls: type[Rule]) -> str:
    lines = [f"# {cls.id} {cls.name}", "",
             f"Scope: **{cls.scope}** · default severity: **{cls.severity}**", "",
             "## What it does", "", cls.summary.strip(), "",
             "## Why is this bad?", "", cls.rationale.strip(), ""]
    story = cls.incident
    if story:
        lines += ["## Incident", "", story.strip(), ""]
    lines += _params_lines(cls)
    for title, examples in (("Example", cls.bad), ("Use instead", cls.good)):
        if not examples:
            continue
        lines += [f"## {title}", ""]
        for example in examples:
            language, text = _example_text(example, cls.scope)
            lines += [f"```{language}", text, "```", ""]
    lines += [f"Configure: `[tool.auditor] ignore = [\"{cls.id}\"]` to turn it off, "
              f"`[tool.auditor.severity] {cls.id} = \"error\"` to change its severity, or suppress one line with "
              f"`# audit: ignore[{cls.id}] reason`.", ""]
    return "\n".join(lines)


def index_markdown(rules: dict[str, type[Rule]]) -> str:
    lines = ["# Rules", "", "Generated from the rule modules in `rules/` by `make docs`; do not edit by hand.", "",
             "| id | name | scope | severity | what it finds |", "|---|---|---|---|---|"]
    lines += [f"| [{cls.id}]({cls.id}.md) | {cls.name} | {cls.scope} | {cls.severity} | {cls.summary.strip()} |"
              for cls in rules.values()]
    return "\n".join(lines) + "\n"


def generated_docs() -> dict[str, str]:
    rules = all_rule_classes()
    pages = {f"{cls.id}.md": rule_markdown(cls) for cls in rules.values()}
    pages["index.md"] = index_markdown(rules)
    return pages


def write_docs(folder: Path) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    pages = generated_docs()
    for stale in folder.glob("RA*.md"):
        if stale.name not in pages:
            stale.unlink()
    for name, text in pages.items():
        (folder / name).write_text(text, encoding="utf-8")
    return sorted(pages)


@click.command()
@click.option("--format", "fmt", type=click.Choice(["text", "json", "markdown"]), default="text", show_default=True)
@click.option("--scope", type=click.Choice(SCOPES), default=None, help="Only rules of this scope (code, run, compare, replay, docs, meta).")
def rules(fmt: str, scope: str | None) -> None:
    """List the rules."""
    chosen = [cls for cls in all_rule_classes().values() if scope is None or cls.scope == scope]
    if fmt == "json":
        data = [{"id": c.id, "name": c.name, "scope": c.scope, "severity": c.severity, "summary": c.summary,
                 "incident": c.incident, "params": c.params} for c in chosen]
        click.echo(json.dumps(data, indent=2))
    elif fmt == "markdown":
        click.echo(index_markdown({c.id: c for c in chosen}), nl=False)
    else:
        for c in chosen:
            click.echo(f"{c.id}  {c.name:<34} {c.scope:<8} {c.severity:<8} {c.summary}")


@click.command()
@click.argument("rule")
def explain(rule: str) -> None:
    """Show one rule's documentation with a bad and a good example."""
    click.echo(rule_markdown(rule_class(rule)), nl=False)


def _main(argv: list[str]) -> None:
    if len(argv) == 2 and argv[0] == "--write-docs":
        for name in write_docs(Path(argv[1])):
            print(f"wrote {argv[1]}/{name}")
    else:
        raise SystemExit("usage: python -m auditor.rules_cli --write-docs DIR")


if __name__ == "__main__":
    _main(sys.argv[1:])
