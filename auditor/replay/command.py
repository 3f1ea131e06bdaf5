"""`audit replay RUN_ID --results DIR [--repo REPO] [--device cpu|cuda] [--tolerance X]`.

torch is imported only when the command runs, so `audit --help` stays light.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from auditor.cli_common import config_option, finish, get_config, report_options
from auditor.errors import InputError


def _find_run(results: Path, run_id: str, config):
    from auditor.runs.discover import find_run

    return find_run(results, run_id, config)


def _emit_json(findings, extra: dict, *, output: str | None, fail_on: str) -> None:
    """The contract's JSON report plus the replay's numbers under an extra top-level key."""
    from auditor.findings import at_or_above, sort_findings
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


@click.command("replay")
@click.argument("run_id")
@click.option("--results", required=True, type=click.Path(), help="The results directory holding the run.")
@click.option("--repo", "repo_path", default=None, type=click.Path(),
              help="Where replay.model / replay.evaluate / a quant hook are imported from (default: the current directory).")
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default="cpu", show_default=True)
@click.option("--tolerance", type=float, default=None,
              help="Allowed |replayed - reported| (default: [tool.auditor.replay] tolerance, else 0.01 for "
                   "scores in [0, 1] and 2% relative otherwise).")
@report_options
@config_option
def replay(run_id, results, repo_path, device, tolerance, fmt, output, fail_on, config_path):
    """Replay a run's checkpoint with its declared quantization and without, and compare with the reported score."""
    from auditor.replay.driver import findings_for, replay_run

    repo = Path(repo_path or ".")
    if not repo.is_dir():
        raise InputError("the repository directory does not exist", path=str(repo))
    results_dir = Path(results)
    if not results_dir.is_dir():
        raise InputError("the results directory does not exist or is not a directory", path=results)
    config = get_config(repo, config_path)
    if tolerance is not None and tolerance < 0:
        raise InputError("--tolerance must be >= 0")
    run = _find_run(results_dir, run_id, config)
    result = replay_run(run, config, repo, device, tolerance)
    findings = findings_for(result, config)
    if fmt == "json":
        _emit_json(findings, {"replay": result.to_json()}, output=output, fail_on=fail_on or config.fail_on)
    finish(findings, fmt=fmt, output=output, fail_on=fail_on, config=config, title=f"Replay of run {run.id}",
           preamble=result.verdict())
