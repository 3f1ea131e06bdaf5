"""What the commands that read a results directory share (run, diff, replay, compare, docs): the
--results argument, finding the run asked for, and the JSON report with the command's extra keys."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from auditor.errors import InputError
from auditor.findings import Finding, at_or_above, sort_findings


def results_dir(results: str | Path) -> Path:
    """--results as a folder; anything else is an input error naming it (exit 2)."""
    path = Path(results)
    if not path.is_dir():
        raise InputError("the results directory does not exist or is not a directory", path=str(results))
    return path


def find_run(results: str | Path, run_id: str, config):
    """The run whose id or folder name is `run_id` (discovery is imported only when a command runs)."""
    from auditor.runs.discover import find_run as find

    return find(results_dir(results), run_id, config)


def emit_json(findings: list[Finding], extra: dict, *, output: str | None, fail_on: str) -> None:
    """The contract's JSON report plus extra top-level keys (the run header, the diff, the replay, the
    comparison), then exit 0/1 like every report."""
    from auditor.report import write_atomic
    from auditor.report.json_report import render_json

    ordered = sort_findings(findings)
    document = json.loads(render_json(ordered))
    document.update(extra)
    text = json.dumps(document, indent=2, ensure_ascii=False, default=str) + "\n"
    if output:
        write_atomic(Path(output), text)
    else:
        sys.stdout.write(text)
        sys.stdout.flush()
    raise SystemExit(1 if at_or_above(ordered, fail_on) else 0)
