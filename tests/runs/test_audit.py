"""audit_run_record: the repo adapter for RA202 and tolerated read problems as RA001."""

from __future__ import annotations

import git

from auditor.runs.audit import RunContext, audit_run_record
from auditor.runs.record import Run
from auditor.vcs import Repo

from .helpers import config, git_repo


def test_ra202_with_a_real_repo_short_and_unknown_shas(tmp_path):
    path, sha = git_repo(tmp_path / "repo")
    repo = Repo(path)
    base = dict(folder=str(tmp_path), seed=0, config={"lr": 0.1})
    known = Run(id="known", git_sha=sha[:8], **base)
    unknown = Run(id="gone", git_sha="0" * 40, **base)
    assert not [f for f in audit_run_record(known, config(), repo=repo) if f.rule == "RA202"]
    (finding,) = [f for f in audit_run_record(unknown, config(), repo=repo) if f.rule == "RA202"]
    assert finding.severity == "error" and "0" * 40 in finding.message
    assert not [f for f in audit_run_record(unknown, config(), repo=None) if f.rule == "RA202"]  # no repo: skipped


def test_sha_status_tolerates_a_resolve_that_returns_none(tmp_path):
    path, sha = git_repo(tmp_path / "repo")
    real = git.Repo(path)

    class GitPythonResolver:  # an older Repo flavour: returns None for unknown SHAs instead of raising
        def resolve(self, rev):
            try:
                return real.commit(rev).hexsha
            except (ValueError, git.BadName):
                return None

    context = RunContext(config=config(), repo=GitPythonResolver())
    assert context.sha_status(sha) == (True, "")
    assert context.sha_status("f" * 40)[0] is False


def test_read_problems_become_ra001_findings(tmp_path):
    run = Run(id="r", folder=str(tmp_path), seed=0, config={"a": 1}, git_sha="abc1234",
              problems=[{"message": "truncated last record", "path": "results/r/events.out.tfevents.1", "line": 3}])
    (finding,) = [f for f in audit_run_record(run, config()) if f.rule == "RA001"]
    assert finding.location.to_json() == {"path": "results/r/events.out.tfevents.1", "line": 3}
    assert "truncated" in finding.message
    assert not [f for f in audit_run_record(run, config(ignore=["RA001"])) if f.rule == "RA001"]
