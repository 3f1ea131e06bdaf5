"""The report for people at a terminal: grouped by file or run, the flagged line and a caret."""

from __future__ import annotations

from itertools import groupby

from auditor.findings import Finding, summarize
from auditor.report.escape import printable

_COLORS = {"error": "\033[31m", "warning": "\033[33m", "info": "\033[36m", "bold": "\033[1m", "dim": "\033[2m"}
_RESET = "\033[0m"


def _paint(text: str, style: str, color: bool) -> str:
    return f"{_COLORS[style]}{text}{_RESET}" if color else text


def _subject(f: Finding) -> str:
    return printable(f.location.subject())


def render_text(findings: list[Finding], *, source_lookup=None, color: bool = False, preamble: str = "") -> str:
    lines: list[str] = [printable(preamble.rstrip("\n"), keep_newlines=True)] if preamble else []
    for subject, group in groupby(findings, key=_subject):
        lines.append(_paint(subject, "bold", color))
        for f in group:
            loc = f.location
            col = loc.col or 0
            where = f"  {loc.line}:{col + 1}" if loc.line is not None else " "
            lines.append(f"{where} {_paint(f.severity, f.severity, color)} {f.rule} {printable(f.message)} "
                         f"{_paint('[' + f.name + ']', 'dim', color)}")
            source = source_lookup(loc.path, loc.line) if source_lookup and loc.line is not None else None
            if source is not None:
                shown = printable(source.expandtabs(4))
                lines.append(f"      | {shown}")
                lines.append(f"      | {' ' * col}{_paint('^', f.severity, color)}")
        lines.append("")
    counts = summarize(findings)
    total = sum(counts.values())
    if total:
        lines.append(f"{total} finding(s): {counts['error']} error, {counts['warning']} warning, {counts['info']} info")
    else:
        lines.append("No findings.")
    return "\n".join(lines) + "\n"
