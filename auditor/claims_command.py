"""`audit docs [PATHS...] --results DIR`: check the numbers and file references that docs claim."""

from __future__ import annotations

from pathlib import Path

import click

from auditor.claims import check_docs, markdown_files
from auditor.cli_common import config_option, configured_results, finish, get_config, report_options
from auditor.compare.runsource import load_runs
from auditor.errors import UsageError
from auditor.report import file_source_lookup
from auditor.runs.cli_support import results_dir as checked_results_dir


@click.command("docs")
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--results", default=None, type=click.Path(),
              help="The results directory the docs' numbers should come from (default: `results` in [tool.auditor]).")
@click.option("--repo", type=click.Path(exists=True, file_okay=False), default=None,
              help="Where referenced scripts live (default: the git repository around each doc).")
@report_options
@config_option
def docs(paths, results, repo, fmt, output, fail_on, config_path):
    """Check numbers and file references in Markdown docs (default: *.md under the current directory)."""
    config = get_config(Path(repo) if repo else Path.cwd(), config_path)
    results = configured_results(results, config)
    results_dir = str(checked_results_dir(results))
    targets = list(paths) or ["."]
    missing = [p for p in targets if not Path(p).exists()]
    if missing:
        raise UsageError(f"no such file or directory: {', '.join(missing)}")
    if not markdown_files(targets):
        raise UsageError(f"no Markdown files in {', '.join(targets)}")
    runs, problems = load_runs(results_dir, config)
    findings = check_docs(targets, runs, results_dir, config, repo=repo)
    finish([*findings, *problems], fmt=fmt, output=output, fail_on=fail_on, config=config,
           source_lookup=file_source_lookup(Path.cwd()), title="audit docs")
