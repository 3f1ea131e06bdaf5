"""Which code a replay imports: the repository as it was at the run's commit, never today's working tree.

A record's `module:function` names are looked up in the tree of the commit the run recorded, exported
(`git archive`, nothing checked out) into the replay's private job folder inside the cache, and imported
from there: a function added to the working tree since is not found, one deleted since still is. A SHA the
repository does not have, a revision name instead of a SHA, or a commit whose objects cannot be read stops
the replay with a CodeUnavailable (that run's RA001; the nightly tries again the next night). A record with
no SHA at all is replayed against the working tree of --repo, and its result says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from auditor.errors import InputError


class CodeUnavailable(InputError):
    """The code at the run's commit cannot be read (unknown SHA, missing git objects, no git repository)."""

    def __init__(self, message: str, sha: str, path: str | None = None):
        super().__init__(message, path=path, field="git.sha")
        self.sha = sha


@dataclass(frozen=True)
class ReplayCode:
    root: Path  # where the replay imports the project's modules from
    label: str  # how messages name it
    sha: str | None = None  # the commit it is the code of; None: the working tree
    note: str | None = None  # what the replay's result should say about it


def replay_code(run, repo: Path, jobdir: Path) -> ReplayCode:
    """The code the run's replay may import: the tree at its SHA, exported into `jobdir`/code."""
    from auditor.vcs import Repo

    if not run.git_sha:
        return ReplayCode(repo, f"the working tree of {repo}",
                          note="the record has no git SHA: the replay imported the code of the working tree of "
                               f"{repo}, which may differ from the code the run used")
    claimed = str(run.git_sha)
    try:
        with Repo(repo) as git_repo:
            sha = git_repo.resolve_recorded(claimed)
            git_repo.export_tree(sha, jobdir / "code")
            inside = repo.relative_to(git_repo.root) if repo.is_relative_to(git_repo.root) else Path()
    except InputError as exc:
        raise CodeUnavailable(f"run {run.id}: the code at {claimed[:40]!r} cannot be read ({exc.message[:300]}); "
                              "a replay imports only the code of the run's own commit",
                              sha=claimed, path=run.record_path) from None
    return ReplayCode(jobdir / "code" / inside, f"the repository at {sha[:12]}", sha)
