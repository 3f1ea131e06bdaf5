"""Markdown for pull-request comments and the nightly's report.md."""

from __future__ import annotations

from auditor.findings import Finding, summarize
from auditor.report.escape import Markdown, md_code, md_text


def _cell(text: str) -> str:
    """A message (it quotes ids, paths, values from the input) as one table cell of plain text."""
    return md_text(str(text).replace("\n", " "))


def render_markdown(findings: list[Finding], *, title: str = "", preamble: str = "") -> str:
    counts = summarize(findings)
    out = [f"## {title or 'Reproducibility audit'}", ""]
    if preamble:  # the auditor's own Markdown as it is; any other text (a verdict quoting the run) escaped
        text = preamble.rstrip("\n")
        out += [text if isinstance(preamble, Markdown) else "  \n".join(map(md_text, text.splitlines())), ""]
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
        out += [f"| {f.rule} {md_code(f.name)} | {f.location.display(md_code)} | {_cell(f.message)} |" for f in chosen]
        out.append("")
    return "\n".join(out) + "\n"
