"""The nightly's units of work. Module-level and picklable: the same functions run in this process,
in a process pool, on Ray workers and in Slurm jobs (submitit). Each returns plain data
(finding dicts), which is what the state stores.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from auditor.config import Config
from auditor.findings import Finding
from auditor.meta import UNREADABLE_COMMIT

_REPOS: dict[str, object] = {}  # one Repo per worker process and path: opening one costs a git call


def _repo(path: str | None):
    if not path:
        return None
    if path not in _REPOS:
        from auditor.nightly.sources import open_repo

        _REPOS[path] = open_repo(path)
    return _REPOS[path]


@dataclass
class RunBatch:
    """Runs to audit together (one task, one commit): (key, run) pairs."""
    items: list[tuple[str, object]]
    config: Config
    repo: str | None = None
    kind: str = "run"  # "run": the record audit; "replay": the checkpoint replay


@dataclass
class ShaTask:
    repo: str
    sha: str
    config: Config
    key: str = ""
    jobs: int | None = None  # 1 inside a pool worker: no nested process pool


@dataclass
class TaskResult:
    """(key, subject, finding dicts) per item; the state stores them as they come, except the keys in
    `retry`: results that depend on a commit that could not be read tonight, audited again next night."""
    rows: list[tuple[str, str, list[dict]]] = field(default_factory=list)
    retry: set[str] = field(default_factory=set)

    def add(self, key: str, subject: str, findings: list[Finding]) -> None:
        self.rows.append((key, subject, [f.to_json() for f in findings]))
        if any(f.rule == "RA001" and f.evidence.get(UNREADABLE_COMMIT) for f in findings):
            self.retry.add(key)

    def kept(self) -> list[tuple[str, str, list[dict]]]:
        return [row for row in self.rows if row[0] not in self.retry]


def audit_runs(batch: RunBatch) -> TaskResult:
    from auditor.nightly import sources

    result = TaskResult()
    for key, run in batch.items:
        if batch.kind == "replay":
            findings = sources.replay_run(run, batch.config, batch.repo)
        else:
            findings = sources.audit_run(run, batch.config, _repo(batch.repo))
        result.add(key, run.id, findings)
    return result


def scan_sha(task: ShaTask) -> TaskResult:
    from auditor.errors import InputError
    from auditor.nightly import sources

    try:
        findings = sources.scan_code_at(_repo(task.repo), task.sha, task.config, task.jobs)
    except InputError as exc:  # a missing blob, a damaged pack: this commit's code is not audited, the rest is
        from auditor.registry import rule_class

        findings = [rule_class("RA001")().finding(
            f"the code at {task.sha} could not be read ({exc.message[:200]}); runs of this commit were not "
            "checked against their code", {"path": f"(commit {task.sha[:12]})"},
            {"sha": task.sha, UNREADABLE_COMMIT: task.sha}, severity="error")]
    result = TaskResult()
    result.add(task.key, task.sha, findings)
    return result
