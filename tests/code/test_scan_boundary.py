"""`audit scan` reads only the scanned tree: a `.py` symlinked to a secret outside is refused without quoting
it, a FIFO named `*.py` never hangs the scan, and a folder it cannot list is a finding, never a silent pass."""

from __future__ import annotations

import json
import os
from pathlib import Path

from cli_helpers import run_cli

from auditor.code import discover as code_discover
from auditor.code.scan import scan_paths
from auditor.config import Config

SECRET = "hunter2-very-secret-password"


def _repo(tmp_path: Path) -> tuple[Path, Path]:
    home = tmp_path / "home"
    home.mkdir()
    (home / ".netrc").write_text(f"machine example.com login me password {SECRET}\n")
    repo = tmp_path / "repo"
    (repo / "pkg").mkdir(parents=True)
    (repo / "pkg" / "train.py").write_text("import torch\n")
    return home, repo


def _ra001(result) -> dict[str, str]:
    return {f.location.path: f.message for f in result.findings if f.rule == "RA001"}


def test_a_symlink_to_a_secret_outside_is_refused_and_not_quoted(tmp_path):
    home, repo = _repo(tmp_path)
    os.symlink(home / ".netrc", repo / "pkg" / "utils.py")
    os.symlink("train.py", repo / "pkg" / "alias.py")  # a link inside the repository is read as usual
    proc = run_cli("scan", repo, "--format", "json", "--no-cache", cwd=repo)
    assert SECRET not in proc.stdout + proc.stderr
    found = {f["location"]["path"]: f["message"] for f in json.loads(proc.stdout)["findings"] if f["rule"] == "RA001"}
    assert list(found) == ["pkg/utils.py"] and "outside the scanned folder" in found["pkg/utils.py"], found


def test_a_fifo_named_py_is_not_opened(tmp_path):
    _, repo = _repo(tmp_path)
    os.mkfifo(repo / "pkg" / "trap.py")
    proc = run_cli("scan", repo, "--format", "json", "--no-cache", cwd=repo)  # a subprocess with a timeout
    found = {f["location"]["path"]: f["message"] for f in json.loads(proc.stdout)["findings"] if f["rule"] == "RA001"}
    assert "not a regular file" in found.get("pkg/trap.py", ""), found


def test_a_folder_that_cannot_be_listed_is_a_finding(tmp_path, monkeypatch):
    _, repo = _repo(tmp_path)
    locked = repo / "pkg" / "private"
    locked.mkdir()
    (locked / "hidden.py").write_text("x = 1\n")
    if os.geteuid() == 0:  # root lists anything: make the listing fail the way a permission does
        real = os.scandir

        def scandir(path="."):
            if os.path.realpath(path) == str(locked.resolve()):
                raise PermissionError(13, "Permission denied", str(path))
            return real(path)

        monkeypatch.setattr(code_discover.os, "scandir", scandir)
    else:
        locked.chmod(0)
    try:
        result = scan_paths([repo], Config(root=repo), use_cache=False)
    finally:
        locked.chmod(0o755)
    found = _ra001(result)
    assert "cannot list folder" in found.get("pkg/private", ""), found
    severities = [f.severity for f in result.findings if f.location.path == "pkg/private"]
    assert severities == ["error"]  # nothing audited there: the scan must not pass
