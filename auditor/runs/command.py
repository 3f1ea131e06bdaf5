"""`audit run RUN_ID` and `audit diff RUN_A RUN_B`: one run against its own code, two runs against each other.

The code is always read at the run's recorded SHA from git objects (auditor.vcs), never from the
working tree: a run from last month is audited against last month's code.
"""

from __future__ import annotations

from pathlib import Path

import click

from auditor.cli_common import config_option, configured_results, finish, get_config, report_options
from auditor.errors import InputError
from auditor.extras import missing_extra, needs_extra
from auditor.findings import Finding, run_location
from auditor.runs.audit import audit_run_record
from auditor.runs.cli_support import emit_json, find_run
from auditor.runs.record import Run
from auditor.trainpath import training_path
from auditor.vcs import Repo, scan_at_sha

# -- shared ---------------------------------------------------------------------------------------

def _record_findings(run: Run, config, repo: Repo | None) -> tuple[list[Finding], str | None]:
    return list(audit_run_record(run, config, repo)), None


def _open_repo(repo_option: str | None) -> tuple[Repo | None, str | None]:
    """The repository: an explicit --repo must be one (exit 2); the default (cwd) may not be one."""
    if repo_option is not None:
        return Repo(repo_option), None
    try:
        return Repo("."), None
    except InputError:
        return None, "the current directory is not a git repository; pass --repo to audit the code at the run's SHA"


def _sha_lookup(repo: Repo, sha: str):
    """The text report's source excerpt, read from the run's SHA rather than the working tree."""
    from auditor.code.sources import line_lookup

    return line_lookup(lambda path: repo.read_file(sha, path))


# -- audit run ------------------------------------------------------------------------------------

def code_findings_for_run(run: Run, repo: Repo, config) -> tuple[list[Finding], dict]:
    """The scanner's findings on the code at the run's SHA (its training path when the entry point is known).

    Returns (findings, info) where info says what was scanned, for the header. Raises InputError
    when the SHA cannot be resolved.
    """
    sha = repo.resolve_recorded(run.git_sha)
    info: dict = {"sha": sha, "scope": "whole tree"}
    entries = [run.entry_point] if run.entry_point else list(config.entry_points or [])
    paths = None
    if entries:
        files = {path: data for path, _, data in repo.python_files_at(sha)}
        reach: set[str] = set()
        for entry in entries:
            reach |= training_path(files, entry)
        if reach:
            paths = reach
            info["scope"] = f"training path of {', '.join(entries)} ({len(reach)} files)"
            info["training_path"] = sorted(reach)
        else:
            info["scope"] = f"whole tree (entry point {', '.join(entries)} not found at {sha[:10]})"
    findings = []
    for f in scan_at_sha(repo, sha, config, paths=paths):
        evidence = {**f.evidence, "sha": sha}
        findings.append(Finding(rule=f.rule, name=f.name, severity=f.severity, message=f.message,
                                location=f.location, evidence=evidence, fingerprint=f.fingerprint))
    return findings, info


def _replay(run: Run, config, repo_path: str, device: str) -> tuple[list[Finding], str]:
    """The replay's findings and its outcome in one line for the header."""
    try:
        from auditor.replay.driver import replay  # torch: only when a run has a replay to do
    except ImportError as exc:
        extra = missing_extra(exc)
        if extra is None:
            raise
        return [], f"not run: {needs_extra('replaying a checkpoint', extra)}"
    result, findings = replay(run, config, repo_path, device)
    if result is None:
        reason = findings[0].message.removeprefix("replay not run: ") if findings else "it could not run"
        return list(findings), f"not run: {reason}"
    return list(findings), result.outcome()


def _check_device(device: str) -> None:
    """--device cuda where there is none is a usage error (as in `audit replay`), not a skipped replay."""
    if device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise InputError("--device cuda was asked for, but CUDA is not available here (use --device cpu)")


def _header(run: Run, code: dict, notes: list[str], replay_outcome: str | None = None) -> list[str]:
    sha = code.get("sha") or run.git_sha
    state = run.state or "unknown"
    if run.exit_code not in (None, 0):
        state += f" (exit {run.exit_code})"
    if run.last_activity is not None and run.state in ("running", "killed"):
        import time

        from auditor.runs.listing import ago

        state += f", last write {ago(time.time() - run.last_activity)} ago"
    reported = {k: v for k, v in (run.reported or {}).items() if k != "step"}
    step = (run.reported or {}).get("step")
    claim = ", ".join(f"{k}={v}" for k, v in sorted(reported.items())) or "nothing reported"
    if reported and step is not None:
        claim += f" at step {step}"
    lines = [f"run {run.id}" + (f" (group {run.group})" if run.group else " (no group)"),
             f"  record:  {run.record_path or run.folder} [{run.source}]",
             f"  code:    {sha[:10] if sha else 'no SHA recorded'}" + (" (dirty tree)" if run.git_dirty else "")
             + (f", scanned: {code['scope']}" if code.get("scope") else ""),
             f"  state:   {state}",
             f"  claim:   {claim}"]
    if replay_outcome:
        lines.append(f"  replay:  {replay_outcome}")
    lines += [f"  note:    {note}" for note in notes]
    return lines + ["", "Findings:"]


@click.command("run")
@click.argument("run_id")
@click.option("--results", default=None, type=click.Path(), help="The results directory holding the run (default: `results` in [tool.auditor]).")
@click.option("--repo", "repo_path", default=None, type=click.Path(), help="The git repository the run came from (default: the current directory).")
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default="cpu", show_default=True,
              help="Device for the checkpoint replay.")
@click.option("--no-replay", is_flag=True, help="Skip the checkpoint replay even when the record declares one.")
@report_options
@config_option
def run(run_id, results, repo_path, device, no_replay, fmt, output, fail_on, config_path):
    """Audit one run: its record, the code at its git SHA, and its replay when the record has one."""
    config = get_config(repo_path or ".", config_path, results)
    results = configured_results(results, config)
    record = find_run(results, run_id, config)
    repo, repo_note = _open_repo(repo_path)
    findings, rules_note = _record_findings(record, config, repo)
    notes = [note for note in (repo_note, rules_note) if note]
    code: dict = {}
    lookup = None
    if repo is not None and record.git_sha:
        try:
            code_findings, code = code_findings_for_run(record, repo, config)
            findings += code_findings
            lookup = _sha_lookup(repo, code["sha"])
        except InputError as exc:
            notes.append(f"code not scanned: {exc.message}")
            if repo.has_commit(record.git_sha) and config.is_selected("RA001"):  # else RA202 says why
                from auditor.meta import input_unreadable

                # The commit is there but its code cannot be read (a missing blob): never a silent pass.
                findings.append(input_unreadable(
                    f"run {record.id}: the code at {record.git_sha} could not be read ({exc.message[:200]}); "
                    "it was not audited", run_location(record.id), {"sha": record.git_sha}, config=config,
                    severity="error"))
    elif repo is not None:
        notes.append("code not scanned: the record has no git SHA")
    replay_outcome = None
    if record.replay and no_replay:
        replay_outcome = "skipped (--no-replay)"
    elif record.replay:
        _check_device(device)
        replay_findings, replay_outcome = _replay(record, config, str(repo.root if repo else Path(repo_path or ".")),
                                                  device)
        findings += replay_findings
    header = _header(record, code, notes, replay_outcome)
    if fmt == "json":
        extra = {"run": {"id": record.id, "group": record.group, "sha": code.get("sha") or record.git_sha,
                         "state": record.state, "exit_code": record.exit_code, "reported": record.reported,
                         "scanned": code.get("scope"), "notes": notes, "replay": replay_outcome}}
        emit_json(findings, extra, output=output, fail_on=fail_on or config.fail_on)
    preamble = "\n".join(header) + "\n"
    if fmt == "markdown":
        preamble = "\n".join(f"    {line}" for line in header[:-2]) + "\n"
    finish(findings, fmt=fmt, output=output, fail_on=fail_on, config=config, source_lookup=lookup,
           title=f"Audit of run {record.id}", preamble=preamble)


# -- audit diff -----------------------------------------------------------------------------------

@click.command("diff")
@click.argument("run_a")
@click.argument("run_b")
@click.option("--results", default=None, type=click.Path(), help="The results directory holding both runs (default: `results` in [tool.auditor]).")
@click.option("--repo", "repo_path", default=None, type=click.Path(), help="The git repository the runs came from (default: the current directory).")
@report_options
@config_option
def diff(run_a, run_b, results, repo_path, fmt, output, fail_on, config_path):
    """What differs between two runs: commits, files, hazards, config, environment, eval protocol."""
    from auditor.runs.diffing import diff_runs, render_markdown, render_text, to_json

    config = get_config(repo_path or ".", config_path, results)
    results = configured_results(results, config)
    first, second = find_run(results, run_a, config), find_run(results, run_b, config)
    repo, repo_note = _open_repo(repo_path)
    result = diff_runs(first, second, repo, config, repo_error=repo_note)
    findings = result.findings()
    if fmt == "json":
        emit_json(findings, {"diff": to_json(result)}, output=output, fail_on=fail_on or config.fail_on)
    preamble = render_text(result) + "\n" if fmt == "text" else render_markdown(result) if fmt == "markdown" else ""
    lookup = _sha_lookup(repo, result.sha_b) if repo is not None and result.sha_b else None
    finish(findings, fmt=fmt, output=output, fail_on=fail_on, config=config, source_lookup=lookup,
           title=f"Diff of runs {first.id} and {second.id}", preamble=preamble)
