"""`audit nightly DIR`: for cron. Exit 0/1 by the failing severity, 2 when the input is unusable."""

from __future__ import annotations

import logging
from pathlib import Path

import click

from auditor.cli_common import config_option, configured_results, get_config
from auditor.errors import InputError
from auditor.executors import EXECUTORS
from auditor.findings import SEVERITIES, at_or_above

log = logging.getLogger("auditor")

def default_report_dir(config, results_dir: Path) -> Path:
    """<cache dir>/reports/<DIR's name>-<hash of its absolute path>: one folder per results directory,
    outside the repository and the audited results (the auditor writes into neither)."""
    import hashlib
    import re

    resolved = results_dir.resolve()
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", resolved.name)[:40] or "results"
    folder = config.cache_dir / "reports" / f"{name}-{hashlib.sha1(str(resolved).encode()).hexdigest()[:10]}"
    if folder.is_symlink():
        raise InputError("the default report folder is a symlink the auditor did not create; pass --out",
                         path=str(folder))
    return folder


@click.command()
@click.argument("results_dir", metavar="[DIR]", type=click.Path(), required=False)
@click.option("--repo", type=click.Path(file_okay=False), default=None,
              help="The git repository the runs came from (default: the current directory, if it is one).")
@click.option("--no-repo", is_flag=True,
              help="Audit the run records only, without a repository (no code scan, no commit checks).")
@click.option("--out", "out", type=click.Path(file_okay=False), default=None,
              help="Folder for report.md, report.html, findings.json, findings.sarif, summary.json (default: a "
                   "folder per results directory in the auditor's cache, never inside the repository or DIR).")
@click.option("--executor", type=click.Choice(EXECUTORS), default=None,
              help="Where the work runs: local process pool (default), ray, or slurm (submitit).")
@click.option("--address", default=None, help="Ray cluster address (default: start a local Ray).")
@click.option("--partition", default=None, help="Slurm partition.")
@click.option("--time", "time_limit", default=None, help="Slurm time limit per job (minutes or HH:MM:SS).")
@click.option("--gpus", type=click.IntRange(min=0), default=None, help="GPUs per Slurm job (replays).")
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=None, help="Parallel workers (default: CPU count).")
@click.option("--no-replay", is_flag=True, help="Skip checkpoint replays.")
@click.option("--docs", "docs", multiple=True, type=click.Path(),
              help="Markdown file or folder whose claims are checked (repeatable; default: [tool.auditor.nightly] "
                   "docs, else every Markdown file at the repository's top and under docs/).")
@click.option("--wait", "wait_s", type=click.FloatRange(min=0), default=0.0, show_default=True,
              help="Seconds to wait when another nightly of DIR is running (then give up with exit 2).")
@click.option("--fail-on", type=click.Choice(SEVERITIES), default=None,
              help="Exit 1 when a finding is at or above this severity (default: config, else error).")
@click.option("--verbose", "-v", is_flag=True, help="Log the time each phase took.")
@config_option
def nightly(results_dir, repo, no_repo, out, executor, address, partition, time_limit, gpus, jobs, no_replay, docs, wait_s,
            fail_on, verbose, config_path):
    """Audit a whole results directory incrementally and write the reports into --out."""
    from auditor.nightly.engine import NightlyOptions, run_nightly
    from auditor.progress import setup_logging

    setup_logging(verbose)
    if repo and no_repo:
        raise click.UsageError("--repo and --no-repo exclude each other")
    config = get_config(Path(repo) if repo else Path.cwd(), config_path, results_dir)
    results_dir = configured_results(results_dir, config)
    out = out or default_report_dir(config, Path(results_dir))
    options = NightlyOptions(
        results_dir=Path(results_dir), out=Path(out), repo=repo, executor=executor or config.nightly.executor or "local",
        address=address, partition=partition, time=time_limit, gpus=gpus, jobs=jobs, replay=not no_replay,
        wait_s=wait_s, docs=list(docs) or None, no_repo=no_repo)
    outcome = run_nightly(options, config)
    stats = outcome.stats
    log.info("runs: %d (%d audited, %d from the last nightly; %d run folder(s) unchanged on disk, not re-read); "
             "code at %d SHA(s) (%d scanned)",
             stats.get("runs", 0), stats.get("runs_audited", 0), stats.get("runs_reused", 0),
             stats.get("run_folders_cached", 0), stats.get("shas", 0), stats.get("shas_scanned", 0))
    log.info("replays: %d (%d run)", stats.get("replays", 0), stats.get("replays_run", 0))
    counts = {s: sum(f.severity == s for f in outcome.findings) for s in SEVERITIES}
    new = sum(f.fingerprint in outcome.new for f in outcome.findings)
    derived = stats.get("comparisons_derived", 0)
    click.echo(f"{len(outcome.findings)} finding(s) ({counts['error']} error, {counts['warning']} warning, "
               f"{counts['info']} info; {new} new) in {stats.get('runs', 0)} run(s), "
               f"{stats.get('comparisons', 0)} comparison(s)" + (f" ({derived} derived from the runs)" if derived else ""))
    click.echo(f"report: {Path(out) / 'report.html'}")
    _refuse_empty(results_dir, stats, config)
    if outcome.repo_root is None and not no_repo:
        click.echo("audit: error: no git repository, so no code was checked (the reports say so); pass --repo REPO, "
                   "or --no-repo to audit the run records only", err=True)
        raise SystemExit(2)
    failing = fail_on or config.fail_on
    raise SystemExit(1 if at_or_above(outcome.findings, failing) else 0)


def _refuse_empty(results_dir, stats: dict, config) -> None:
    """Nothing found is not a pass: a cron job pointed at an empty or wrong folder must not stay green
    ([tool.auditor.runs] allow-empty = true for people who want an empty folder to be fine)."""
    from auditor.runs.discover import allow_empty, nothing_found

    if stats.get("runs", 0) == 0 and not allow_empty(config):
        click.echo(f"audit: error: {nothing_found(results_dir)}", err=True)
        raise SystemExit(2)
