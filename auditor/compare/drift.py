"""Code drift between the SHAs of two sides: which training-path files changed, over how many commits."""

from __future__ import annotations

from dataclasses import dataclass, field

from auditor.errors import InputError


@dataclass
class Drift:
    old: str
    new: str
    commits: int = 0
    files: list[str] = field(default_factory=list)  # changed files on the training path
    other_files: int = 0  # changed files off the training path
    entry_point: str | None = None  # None: no entry point known, every changed .py file counts
    problem: str | None = None  # why the repository could not answer (unknown SHA...)


def entry_point_of(runs, config) -> str | None:
    for run in runs:
        if run.entry_point:
            return run.entry_point
    return config.entry_points[0] if config.entry_points else None


def drift_between(repo, old: str, new: str, entry_point: str | None) -> Drift:
    """What changed from `old` to `new` that the training run could execute."""
    from auditor.trainpath import training_path

    try:
        commits = repo.commits_between(old, new) or repo.commits_between(new, old)
        changes = repo.changed_files(old, new)
    except InputError as exc:
        return Drift(old, new, problem=exc.message)
    changed = sorted({c.path for c in changes} | {c.old_path for c in changes if c.old_path})
    if entry_point:
        on_path: set[str] = set()
        for sha in (old, new):
            files = {path: data for path, _, data in repo.python_files_at(sha)}
            if _entry_in(entry_point, files):
                on_path |= training_path(files, entry_point)
        if on_path:
            hits = [p for p in changed if p in on_path]
            return Drift(old, new, len(commits), hits, len(changed) - len(hits), entry_point)
    hits = [p for p in changed if p.endswith(".py")]
    return Drift(old, new, len(commits), hits, len(changed) - len(hits), None)


def _entry_in(entry_point: str, files: dict) -> bool:
    path = entry_point.split(":", 1)[0]
    return path in files or path.replace(".", "/") + ".py" in files
