"""A commit string that is a revision expression (`HEAD`, `master`, `main~1`) in a tracker's record (W&B,
MLflow, Sacred and Guild store it as free text) is not resolved: it would name today's tip, read today's
code and keep RA202 silent. It is an RA202 finding instead, and no code is read for it."""

from __future__ import annotations

import pytest

from auditor.errors import InputError
from auditor.runs.audit import audit_run_record
from auditor.runs.record import Run
from auditor.vcs import Repo

from .helpers import config, git_repo


@pytest.mark.parametrize("name", ["HEAD", "master", "main~1", "HEAD^{tree}", "@{-1}"])
def test_a_revision_name_is_ra202_and_never_resolved(tmp_path, name):
    repo_dir, sha = git_repo(tmp_path / "repo")
    repo = Repo(repo_dir)
    run = Run(id="r", folder=str(tmp_path / "results" / "r"), source="mlflow", git_sha=name, seed=0,
              config={"lr": 0.1})
    (finding,) = [f for f in audit_run_record(run, config(), repo=repo) if f.rule == "RA202"]
    assert "not a commit SHA" in finding.message
    assert not repo.has_commit(name)
    with pytest.raises(InputError, match="not a commit SHA"):
        repo.resolve_recorded(name)
    assert repo.resolve_recorded(sha[:10]) == sha  # a short hex SHA still is one
