"""Markdown for pull-request comments and the nightly's report.md."""

from __future__ import annotations

from auditor.findings import Finding, summarize


def _where(f: Finding) -> str:
    loc = f.location
    if "path" in loc:
        return f"`{loc['path']}:{loc.get('line', '')}`" if loc.get("line") else f"`{loc['path']}`"
    if "run" in loc:
        return f"run `{loc['run']}`"
    if "runs" in loc:
        return " vs ".join(f"`{r}`" for r in loc["runs"])
    if "groups" in loc:
        return " vs ".join(f"`{g}`" for g in loc["groups"])
    return ""


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def render_markdown(findings: list[Finding], *, title: str = "", preamble: str = "") -> str:
    counts = summarize(findings)
    out = [f"## {title or 'Reproducibility audit'}", ""]
    if preamble:
        out += [preamble.rstrip("\n"), ""]
    if not findings:
        out.append("No findings.")
        return "\n".join(out) + "\n"
    out.append(f"**{counts['error']} error(s)**, {counts['warning']} warning(s), {counts['info']} info")
    out.append("")
    for severity in ("error", "warning", "info"):
        chosen = [f for f in findings if f.severity == severity]
        if not chosen:
            continue
        out += [f"### {severity.capitalize()}s", "", "| rule | where | finding |", "|---|---|---|"]
        out += [f"| {f.rule} `{f.name}` | {_where(f)} | {_cell(f.message)} |" for f in chosen]
        out.append("")
    return "\n".join(out) + "\n"
