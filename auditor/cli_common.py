"""What every command shares: report options, configuration loading, finishing with an exit code."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Iterable

import click

from auditor.config import Config, load_config
from auditor.findings import SEVERITIES, Finding
from auditor.report import FORMATS, SourceLookup, emit


def report_options(command):
    """--format, --output, --fail-on: on every command that reports findings."""
    command = click.option("--fail-on", type=click.Choice(SEVERITIES), default=None,
                           help="Exit 1 when a finding is at or above this severity (default: config, else error).")(command)
    command = click.option("--output", "-o", type=click.Path(dir_okay=False), default=None,
                           help="Write the report to this file instead of standard output.")(command)
    command = click.option("--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True)(command)
    return command


def config_option(command):
    @click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None,
                  help="Configuration file (pyproject.toml with [tool.auditor], or auditor.yaml).")
    @functools.wraps(command)
    def wrapper(*args, config_path=None, **kwargs):
        return command(*args, config_path=config_path, **kwargs)

    return wrapper


def get_config(start: Path | str | None, config_path: str | None, results: Path | str | None = None) -> Config:
    """The repository's configuration (or --config); never one found in the results directory."""
    return load_config(start, config_path, untrusted=[results] if results else [])


def configured_results(results: str | None, config: Config) -> str:
    """--results when given, else the one folder `results = [...]` in [tool.auditor] names (relative to it)."""
    if results:
        return results
    listed = config.results
    if not listed:
        raise click.UsageError("Missing option '--results' (or set results = [\"DIR\"] in [tool.auditor]; "
                               "`audit init` writes it)")
    if len(listed) > 1:
        raise click.UsageError(f"[tool.auditor] results names {len(listed)} folders ({', '.join(listed)}): "
                               "pass --results with the one meant")
    path = Path(listed[0]).expanduser()
    return str(path if path.is_absolute() else config.root / path)


def finish(findings: Iterable[Finding], *, fmt: str, output: str | None, fail_on: str | None, config: Config,
           source_lookup: SourceLookup | None = None, title: str = "", preamble: str = "") -> None:
    # Every command honours the selection (`ignore`, per-path ignores) for every rule, RA001 included.
    findings = [f for f in findings if config.is_selected(f.rule, f.location.path)]
    code = emit(findings, fmt=fmt, output=output, fail_on=fail_on or config.fail_on,
                source_lookup=source_lookup, title=title, preamble=preamble if fmt in ("text", "markdown") else "")
    raise SystemExit(code)
