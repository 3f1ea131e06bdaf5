"""`audit run` when one git object of the run's commit is missing (a damaged clone, a partial fetch): the code
was not audited, so the run is not a pass. An RA001 error says so in every format, and the exit code is 1;
the nightly reports it and goes on."""

from __future__ import annotations

import json
import os

import git
from cli_helpers import run_cli

from .helpers import git_repo, write_record


def test_a_missing_blob_is_an_error_finding(tmp_path):
    repo_dir, sha = git_repo(tmp_path / "repo")
    with git.Repo(repo_dir) as repo:
        blob = repo.commit(sha).tree / "train.py"
    os.remove(repo_dir / ".git" / "objects" / blob.hexsha[:2] / blob.hexsha[2:])
    results = tmp_path / "results"
    write_record(results / "r", {"id": "r", "seed": 0, "config": {"lr": 0.1}, "git": {"sha": sha},
                                 "status": {"state": "completed", "exit_code": 0}})
    for fmt in ("json", "sarif"):
        proc = run_cli("run", "r", "--results", results, "--repo", repo_dir, "--format", fmt, cwd=tmp_path)
        assert proc.returncode == 1, proc.stderr
        assert "could not be read" in proc.stdout and "it was not audited" in proc.stdout
    data = json.loads(run_cli("run", "r", "--results", results, "--repo", repo_dir, "--format", "json",
                              cwd=tmp_path).stdout)
    (finding,) = [f for f in data["findings"] if f["rule"] == "RA001"]
    assert finding["severity"] == "error" and finding["location"] == {"run": "r"}
    # the nightly: one RA001 error for that commit, and all its reports
    proc = run_cli("nightly", results, "--repo", repo_dir, "--out", tmp_path / "out", "--jobs", "1", cwd=tmp_path,
                   env={"XDG_CACHE_HOME": str(tmp_path / "cache")})
    assert proc.returncode == 1, proc.stderr
    night = json.loads((tmp_path / "out" / "findings.json").read_text())["findings"]
    assert [f["severity"] for f in night if f["rule"] == "RA001" and "could not be read" in f["message"]] == ["error"]
