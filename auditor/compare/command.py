"""`audit compare BASELINE TREATMENT --results DIR --metric NAME`: is the comparison valid, and do the seeds
support the effect."""

from __future__ import annotations

from pathlib import Path

import click

from auditor.cli_common import config_option, configured_results, finish, get_config, report_options
from auditor.compare import render
from auditor.compare.api import ComparisonSpec, check_comparison
from auditor.compare.runsource import load_runs
from auditor.errors import UsageError
from auditor.runs.cli_support import emit_json, results_dir


@click.command("compare")
@click.argument("baseline")
@click.argument("treatment")
@click.option("--results", default=None, type=click.Path(),
              help="The results directory the runs are in (default: `results` in [tool.auditor]).")
@click.option("--metric", required=True, help="The metric to compare (e.g. val/acc).")
@click.option("--higher-is-better/--lower-is-better", "higher_is_better", default=None,
              help="Direction of the metric (default: inferred from its name; losses and errors go down).")
@click.option("--treatment-keys", default=None,
              help="Comma-separated config keys the comparison means to vary; any other difference is a protocol "
                   "mismatch. Without it a single differing key is taken as the treatment.")
@click.option("--repo", type=click.Path(file_okay=False), default=None,
              help="The git repository the runs came from, to see what code changed between their SHAs "
                   "(default: the current directory, when it is one).")
@click.option("--confidence", type=float, default=None, help="Confidence level of the bootstrap CI (default 0.95).")
@click.option("--ci-method", type=click.Choice(["percentile", "bca"]), default=None,
              help="Bootstrap interval: percentile (default) or BCa.")
@report_options
@config_option
def compare(baseline, treatment, results, metric, higher_is_better, treatment_keys, repo, confidence, ci_method,
            fmt, output, fail_on, config_path):
    """Is BASELINE vs TREATMENT (run groups or run ids) a valid comparison, and is the effect supported?"""
    config = get_config(Path(repo) if repo else Path.cwd(), config_path)
    results = configured_results(results, config)
    if confidence is not None and not 0 < confidence < 1:
        raise UsageError(f"--confidence must be between 0 and 1 (e.g. 0.95), got {confidence}")
    keys = [k.strip() for k in treatment_keys.split(",") if k.strip()] if treatment_keys is not None else None
    runs, problems = load_runs(results_dir(results), config, wanted=(baseline, treatment))
    spec = ComparisonSpec(name=f"{baseline}-vs-{treatment}", baseline=baseline, treatment=treatment, metric=metric,
                          higher_is_better=higher_is_better, treatment_keys=keys, confidence=confidence)
    result = check_comparison(spec, runs, config, repo=repo or _repo_around_cwd(), ci_method=ci_method)
    # A broken record elsewhere in the results dir only matters if it could have been one of these runs.
    findings = [*result.findings, *problems]
    title = f"audit compare {baseline} vs {treatment}"
    if fmt == "json":
        emit_json(findings, {"comparison": result.summary}, output=output, fail_on=fail_on or config.fail_on)
    preamble = ""
    if fmt == "text":
        preamble = render.render_text(result.comparison, result.summary)
    elif fmt == "markdown":
        preamble = render.render_markdown(result.comparison, result.summary)
    finish(findings, fmt=fmt, output=output, fail_on=fail_on, config=config, title=title, preamble=preamble)


def _repo_around_cwd() -> str | None:
    """Like run and diff: the repository around the current directory, when there is one."""
    from auditor.errors import InputError
    from auditor.vcs import Repo

    try:
        return str(Repo(".").root)
    except InputError:
        return None
