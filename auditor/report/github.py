"""GitHub Actions workflow commands: one `::error file=...,line=...::message` per finding, so the findings
show as annotations on the pull request's diff (what `ruff --output-format github` does)."""

from __future__ import annotations

from auditor.findings import Finding

_LEVEL = {"error": "error", "warning": "warning", "info": "notice"}


def _data(text: str) -> str:
    """The message part: %, CR and LF escaped as GitHub's runner reads them."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _property(text: str) -> str:
    """A property value: also ':' and ',' escaped (they separate properties)."""
    return _data(text).replace(":", "%3A").replace(",", "%2C")


def render_github(findings: list[Finding]) -> str:
    lines = []
    for f in findings:
        loc = f.location
        props = [f"title={_property(f'{f.rule} {f.name}')}"]
        if loc.path:
            props.append(f"file={_property(loc.path)}")
            if loc.line:
                props.append(f"line={loc.line}")
                props.append(f"col={(loc.col or 0) + 1}")
        subject = f"{loc.display()}: " if loc.names else ""  # a file is in the annotation's place already
        lines.append(f"::{_LEVEL.get(f.severity, 'warning')} {','.join(props)}::{_data(subject + f.message)}")
    return "\n".join(lines) + ("\n" if lines else "")
