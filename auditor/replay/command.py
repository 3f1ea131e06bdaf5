"""`audit replay RUN_ID --results DIR [--repo REPO] [--device cpu|cuda] [--tolerance X]`.

torch is imported only when the command runs, so `audit --help` stays light.
"""

from __future__ import annotations

from pathlib import Path

import click

from auditor.cli_common import config_option, configured_results, finish, get_config, report_options
from auditor.errors import InputError
from auditor.runs.cli_support import emit_json, find_run, results_dir


@click.command("replay")
@click.argument("run_id")
@click.option("--results", default=None, type=click.Path(), help="The results directory holding the run (default: `results` in [tool.auditor]).")
@click.option("--repo", "repo_path", default=None, type=click.Path(),
              help="The git repository whose tree at the run's SHA defines replay.model / replay.evaluate / a quant "
                   "hook (default: the current directory).")
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default="cpu", show_default=True)
@click.option("--tolerance", type=float, default=None,
              help="Allowed |replayed - reported| (default: [tool.auditor.replay] tolerance, else 0.01 for "
                   "scores in [0, 1] and 2% relative otherwise).")
@report_options
@config_option
def replay(run_id, results, repo_path, device, tolerance, fmt, output, fail_on, config_path):
    """Replay a run's checkpoint with its declared quantization and without, and compare with the reported score."""
    from auditor.replay.driver import findings_for
    from auditor.replay.sandbox import replay_in_child

    repo = Path(repo_path or ".")
    if not repo.is_dir():
        raise InputError("the repository directory does not exist", path=str(repo))
    config = get_config(repo, config_path, results)
    results = configured_results(results, config)
    results_dir(results)
    if tolerance is not None and tolerance < 0:
        raise InputError("--tolerance must be >= 0")
    run = find_run(results, run_id, config)
    result = replay_in_child(run, config, repo, device, tolerance)
    findings = findings_for(result, config)
    if fmt == "json":
        emit_json(findings, {"replay": result.to_json()}, output=output, fail_on=fail_on or config.fail_on)
    finish(findings, fmt=fmt, output=output, fail_on=fail_on, config=config, title=f"Replay of run {run.id}",
           preamble=result.verdict())
