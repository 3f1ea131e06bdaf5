"""The other areas' entry points the nightly calls, in one place.

Runs (discovery, run audits), compare (comparisons), docs (claims), the git layer and the scanner
(code at a SHA), and replay are each owned by their area; the nightly only orchestrates them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from auditor.config import Config
from auditor.findings import Finding, run_location
from auditor.locations import FileLocation


def discover(results_dir: Path, config: Config, cache: bool = True,
             stats: dict | None = None) -> tuple[list, list[Finding]]:
    """(runs sorted by id, RA001 findings for records that could not be read); cache: unchanged run
    folders come from the discovery cache (auditor.runs.discovery_cache) without being read again.
    `stats` receives how many run folders the cache answered (run_folders_cached)."""
    from auditor.runs.discover import discover_runs

    found = discover_runs(results_dir, config, cache=cache)
    runs, problems = list(found.runs), list(found.problems)
    if stats is not None:
        stats.update(run_folders_cached=found.from_cache)
    return sorted(runs, key=lambda r: r.id), [_as_finding(p, results_dir) for p in problems]


def _as_finding(problem: Any, results_dir: Path) -> Finding:
    if isinstance(problem, Finding):
        return problem
    from auditor.meta import input_unreadable

    path = getattr(problem, "path", None) or (problem.get("path") if isinstance(problem, dict) else None)
    message = problem.get("message") if isinstance(problem, dict) else str(problem)
    where = str(path or results_dir)
    try:
        where = str(Path(where).resolve().relative_to(Path(results_dir).resolve()))
    except ValueError:
        pass
    return input_unreadable(f"{where}: {message}", run_location(where), {"path": where})


def audit_run(run, config: Config, repo) -> list[Finding]:
    from auditor.runs.audit import audit_run_record

    return list(audit_run_record(run, config, repo=repo))


def replay_run(run, config: Config, repo_path: str | None) -> list[Finding]:
    from auditor.replay.driver import replay_findings

    return list(replay_findings(run, config, repo_path, device="cpu"))


def scan_code_at(repo, sha: str, config: Config, jobs: int | None = None) -> list[Finding]:
    """The code findings at `sha` (auditor.vcs.scan_at_sha; inside a worker, without a nested pool)."""
    if jobs is None:
        from auditor.vcs import scan_at_sha

        result = scan_at_sha(repo, sha, config)
    else:
        from auditor.code.scan import scan_files
        from auditor.code.sources import SourceFile

        files = [SourceFile(path, data, blob=blob) for path, blob, data in repo.python_files_at(sha)]
        result = scan_files(files, config, jobs=jobs)
    return list(getattr(result, "findings", result))


def comparisons(results_dir: Path) -> list:
    from auditor.compare.api import load_comparisons

    return list(load_comparisons(results_dir))


def derived_comparisons(runs: list, config: Config, declared: list, results_dir: Path) -> list:
    """The comparisons derived from the runs, when [tool.auditor.compare] derive says so for this folder."""
    from auditor.compare.derive import derive_comparisons, should_derive

    return derive_comparisons(runs, config, declared) if should_derive(config, results_dir) else []


def group_names(runs: list, config: Config) -> set[str]:
    """The run groups a comparison side can name: the recorded ones and those of ungrouped runs."""
    from auditor.compare.groups import conditions

    return set(conditions(runs, config))


def check_comparison(spec, runs: list, config: Config, repo: str | None):
    from auditor.compare.api import check_comparison as check

    return check(spec, runs, config, repo=repo)


def check_docs(paths: list[Path], runs: list, results_dir: Path, config: Config) -> list[Finding]:
    """The docs' findings; a doc that cannot be read (not UTF-8, binary, a FIFO) is one RA001, the rest is checked."""
    from auditor.claims import check_docs as check
    from auditor.claims import read_doc
    from auditor.errors import InputError
    from auditor.registry import rule_class

    readable, problems = [], []
    for path in paths:
        try:
            read_doc(Path(path))
            readable.append(path)
        except InputError as exc:
            location = FileLocation(str(path), exc.line or None)
            problems.append(rule_class("RA001")().finding(f"{exc.message}; this doc was not checked", location, {}))
    return problems + list(check(readable, runs, results_dir, config)) if readable else problems


def open_repo(path: str | None):
    if not path:
        return None
    from auditor.vcs import Repo

    return Repo(path)
