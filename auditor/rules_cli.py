"""`audit rules`, `audit explain RULE`, and the generated docs/rules/RA*.md pages."""

from __future__ import annotations

import json
import re
import sys
import textwrap
from pathlib import Path

import click
import yaml

from auditor.registry import all_rule_classes, rule_class
from auditor.rule import SCOPES, Rule

SOURCE_SCOPES = ("code", "meta")  # their examples are Python source
SHOWN = 2  # examples shown of each kind; the rest are folded away
_EXPECT_MARK = re.compile(r"[ \t]*#\s*expect:\s*[A-Z0-9, ]+$")


def _source_text(source: str) -> str:
    """Dedented, without the `# expect:` marks the tests read."""
    lines = textwrap.dedent(source).strip("\n").splitlines()
    return "\n".join(_EXPECT_MARK.sub("", line).rstrip() for line in lines)


def _example_text(example, scope: str) -> tuple[str, str]:
    """(language, text) of one example: code as Python (a project as one block per file), the rest as YAML."""
    if scope in SOURCE_SCOPES and isinstance(example, str):
        return "python", _source_text(example)
    if scope in SOURCE_SCOPES and isinstance(example, dict):
        parts = [f"# --- {path} ---\n{_source_text(source)}" for path, source in sorted(example.items())]
        return "python", "\n\n".join(parts)
    if isinstance(example, str):
        return "yaml", example.strip("\n")
    return "yaml", yaml.safe_dump(example, sort_keys=False, default_flow_style=None, width=100).strip("\n")


def _example_blocks(examples: list, scope: str) -> list[str]:
    lines = []
    for example in examples:
        language, text = _example_text(example, scope)
        lines += [f"```{language}", text, "```", ""]
    return lines


def _params_lines(cls: type[Rule]) -> list[str]:
    if not cls.params:
        return []
    lines = ["## Parameters", "", "| name | default |", "|---|---|"]
    lines += [f"| `{name}` | `{json.dumps(value)}` |" for name, value in sorted(cls.params.items())]
    return lines + [""]


def rule_markdown(cls: type[Rule], *, every_example: bool = False, folded: str = "details") -> str:
    """The rule's page. At most SHOWN examples of each kind are shown; the rest are in a collapsed
    <details> block (folded="details", the docs pages) or only counted (folded="count", `audit explain`),
    unless `every_example`."""
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
        shown, rest = (examples, []) if every_example else (examples[:SHOWN], examples[SHOWN:])
        lines += _example_blocks(shown, cls.scope)
        if rest and folded == "details":
            lines += ["<details>", f"<summary>{len(rest)} more</summary>", "", *_example_blocks(rest, cls.scope),
                      "</details>", ""]
        elif rest:
            lines += [f"({len(rest)} more: `audit explain {cls.id} --all`)", ""]
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
@click.option("--all", "every_example", is_flag=True, help=f"Every example (default: the first {SHOWN} of each kind).")
def explain(rule: str, every_example: bool) -> None:
    """Show one rule's documentation with its bad and good examples."""
    click.echo(rule_markdown(rule_class(rule), every_example=every_example, folded="count"), nl=False)


def _main(argv: list[str]) -> None:
    if len(argv) == 2 and argv[0] == "--write-docs":
        for name in write_docs(Path(argv[1])):
            print(f"wrote {argv[1]}/{name}")
    else:
        raise SystemExit("usage: python -m auditor.rules_cli --write-docs DIR")


if __name__ == "__main__":
    _main(sys.argv[1:])
