"""Reports: the same sorted findings rendered for people (text, markdown, html) and machines (json, sarif)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Callable, Iterable

from auditor.findings import Finding, at_or_above, sort_findings

FORMATS = ("text", "json", "sarif", "markdown", "github")

SourceLookup = Callable[[str, int], "str | None"]


def file_source_lookup(root: Path) -> SourceLookup:
    """Reads the flagged line from the working tree (for the text report's excerpt)."""
    from auditor.code.sources import line_lookup

    def read(path: str) -> bytes | None:
        try:
            return (Path(path) if Path(path).is_absolute() else root / path).read_bytes()
        except OSError:
            return None

    return line_lookup(read)


def render(findings: Iterable[Finding], fmt: str, *, source_lookup: SourceLookup | None = None,
           color: bool = False, title: str = "", preamble: str = "") -> str:
    ordered = sort_findings(findings)
    if fmt == "json":
        from auditor.report.json_report import render_json
        return render_json(ordered)
    if fmt == "sarif":
        from auditor.report.sarif import render_sarif
        return render_sarif(ordered)
    if fmt == "markdown":
        from auditor.report.markdown import render_markdown
        return render_markdown(ordered, title=title, preamble=preamble)
    if fmt == "github":
        from auditor.report.github import render_github
        return render_github(ordered)
    if fmt == "text":
        from auditor.report.text import render_text
        return render_text(ordered, source_lookup=source_lookup, color=color, preamble=preamble)
    raise ValueError(f"unknown format {fmt!r}")


def _file_mode(path: Path) -> int:
    """The mode a plain open() would give: the existing file's, else 0666 minus the umask."""
    try:
        return path.stat().st_mode & 0o7777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def write_atomic(path: Path, text: str) -> None:
    """Write a whole file or nothing: readers never see half a report."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # tempfile.mkstemp's way, without importing tempfile (and shutil, random) into every command
    tmp = str(path.parent / f".{path.name}.{os.getpid()}.{os.urandom(6).hex()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, _file_mode(path))  # mkstemp makes 0600: reports are for others to read too
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def emit(findings: Iterable[Finding], *, fmt: str = "text", output: str | None = None, fail_on: str = "error",
         source_lookup: SourceLookup | None = None, title: str = "", preamble: str = "") -> int:
    """Print (or write) the report and return the exit code: 1 if anything is at or above `fail_on`."""
    ordered = sort_findings(findings)
    color = fmt == "text" and output is None and sys.stdout.isatty() and not os.environ.get("NO_COLOR")
    text = render(ordered, fmt, source_lookup=source_lookup, color=color, title=title, preamble=preamble)
    if output:
        write_atomic(Path(output), text)
    else:
        sys.stdout.write(text)
        sys.stdout.flush()
    return 1 if at_or_above(ordered, fail_on) else 0
