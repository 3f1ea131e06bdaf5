"""Accepted findings: `audit baseline create|update` records the fingerprints of today's findings so
that later scans (`audit scan --baseline FILE`) report only new ones.

Code fingerprints hash rule + path + the normalized flagged line (not its number), so a finding
stays accepted when unrelated edits move it up or down. A nightly's findings.json (the contract's
JSON report) is accepted as a baseline too.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable

import click

from auditor.cli_common import config_option, get_config
from auditor.errors import InputError
from auditor.findings import Finding, sort_findings
from auditor.report import write_atomic

DEFAULT_FILE = ".auditor-baseline.json"
FORMAT_VERSION = 1


def baseline_document(findings: Iterable[Finding]) -> dict:
    """Fingerprints for the machine, rule/path/line/message beside them for the person reviewing it."""
    entries = []
    for f in sort_findings(findings):
        loc = f.location
        where = loc.path or " vs ".join(loc.names)
        entry = {"fingerprint": f.fingerprint, "rule": f.rule, "name": f.name, "where": where}
        if loc.line:
            entry["line"] = loc.line
        entry["message"] = f.message
        entries.append(entry)
    return {"version": FORMAT_VERSION, "tool": "repro-auditor", "accepted": entries}


def write_baseline(path: Path | str, findings: Iterable[Finding]) -> dict:
    document = baseline_document(findings)
    write_atomic(Path(path), json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    return document


def load_baseline(path: Path | str) -> set[str]:
    """The accepted fingerprints in a baseline file (ours, or a findings.json report)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise InputError("baseline file not found (create it with `audit baseline create`)", path=str(path)) from exc
    except OSError as exc:
        raise InputError(f"cannot read the baseline: {exc}", path=str(path)) from exc
    except json.JSONDecodeError as exc:
        raise InputError(f"not valid JSON: {exc.msg}", path=str(path), line=exc.lineno) from exc
    if not isinstance(data, dict):
        raise InputError("a baseline must be a JSON object", path=str(path))
    key = "accepted" if "accepted" in data else "findings" if "findings" in data else None
    if key is None or not isinstance(data[key], list):
        raise InputError("not a baseline: expected an 'accepted' (or 'findings') list", path=str(path), field="accepted")
    fingerprints = set()
    for number, entry in enumerate(data[key]):
        if not isinstance(entry, dict) or not isinstance(entry.get("fingerprint"), str) or not entry["fingerprint"]:
            raise InputError("entry has no fingerprint", path=str(path), field=f"{key}[{number}]")
        fingerprints.add(entry["fingerprint"])
    return fingerprints


def filter_new(findings: Iterable[Finding], baseline: Path | str | set[str]) -> list[Finding]:
    """The findings that are not accepted in the baseline."""
    accepted = baseline if isinstance(baseline, (set, frozenset)) else load_baseline(baseline)
    return [f for f in findings if f.fingerprint not in accepted]


def _scan(paths: tuple[str, ...], config) -> list[Finding]:
    from auditor.code.scan import scan_paths

    return list(scan_paths([Path(p) for p in paths] or [Path(".")], config).findings)


@click.group()
def baseline():
    """Accept today's findings so that later scans report only new ones."""


def _options(command):
    command = click.option("--output", "-o", type=click.Path(dir_okay=False), default=DEFAULT_FILE, show_default=True,
                           help="The baseline file.")(command)
    command = click.argument("paths", nargs=-1, type=click.Path())(command)
    return config_option(command)


@baseline.command("create")
@_options
@click.option("--force", is_flag=True, help="Overwrite an existing baseline file.")
def create(paths, output, force, config_path):
    """Scan PATHS (default: the current directory) and accept every finding."""
    if Path(output).exists() and not force:
        raise InputError("a baseline already exists; use `audit baseline update` (or --force)", path=output)
    config = get_config(Path(paths[0]) if paths else Path.cwd(), config_path)
    document = write_baseline(output, _scan(paths, config))
    click.echo(f"wrote {output}: {len(document['accepted'])} accepted finding(s)")


@baseline.command("update")
@_options
def update(paths, output, config_path):
    """Re-scan and replace the accepted findings (fixed ones drop out, current ones are accepted)."""
    before = load_baseline(output) if Path(output).exists() else set()
    config = get_config(Path(paths[0]) if paths else Path.cwd(), config_path)
    findings = _scan(paths, config)
    write_baseline(output, findings)
    now = {f.fingerprint for f in findings}
    click.echo(f"wrote {output}: {len(now)} accepted finding(s) "
               f"({len(now - before)} added, {len(before - now)} no longer present)")
