"""`audit scan` end to end: exit codes, --fail-on, determinism, no torch import, --rev and --diff on real
git repos."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import git
from click.testing import CliRunner

from auditor.cli import cli

SKIP_FINAL = '''
def fit(self):
    for step in range(self.total_steps):
        self.train_step()
        is_last_step = step == self.total_steps - 1
        if is_last_step:
            val_metrics = {}
        else:
            val_metrics = self._validate()
'''
UNSAFE_LOAD = "import torch\nstate = torch.load('ckpt.pt', weights_only=False)\n"
CLEAN = "def add(a, b):\n    return a + b\n"


def write(folder: Path, rel: str, text: str) -> None:
    target = folder / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")


def invoke(*args: str, cwd: Path):
    """`audit scan ARGS` in-process (click's runner) with `cwd` as the working directory."""
    old = os.getcwd()
    os.chdir(cwd)
    try:
        return CliRunner().invoke(cli, ["scan", *args], catch_exceptions=False)
    finally:
        os.chdir(old)


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "auditor", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300)


def test_exit_codes_and_fail_on(tmp_path):
    write(tmp_path, "clean.py", CLEAN)
    assert invoke("clean.py", cwd=tmp_path).exit_code == 0
    write(tmp_path, "loader.py", UNSAFE_LOAD)  # a warning only
    assert invoke(cwd=tmp_path).exit_code == 0
    assert invoke("--fail-on", "warning", cwd=tmp_path).exit_code == 1
    write(tmp_path, "trainer.py", SKIP_FINAL)  # an error
    result = invoke(cwd=tmp_path)
    assert result.exit_code == 1
    assert "trainer.py" in result.output and "RA101" in result.output and "val_metrics = {}" in result.output
    missing = run_cli("scan", "no_such_dir", cwd=tmp_path)
    assert missing.returncode == 2 and "no_such_dir" in missing.stderr


def test_bad_config_and_missing_path_exit_2_with_a_clear_message(tmp_path):
    write(tmp_path, "pyproject.toml", "[tool.auditor]\nselec = ['RA1']\n")
    write(tmp_path, "a.py", CLEAN)
    proc = run_cli("scan", ".", cwd=tmp_path)
    assert proc.returncode == 2 and "pyproject.toml" in proc.stderr and "selec" in proc.stderr
    assert "Traceback" not in proc.stderr
    proc = run_cli("scan", "missing.py", cwd=tmp_path)
    assert proc.returncode == 2 and "missing.py" in proc.stderr


def test_json_is_byte_identical_and_follows_the_contract(tmp_path):
    write(tmp_path, "trainer.py", SKIP_FINAL)
    write(tmp_path, "loader.py", UNSAFE_LOAD)
    first = invoke("--format", "json", cwd=tmp_path).output
    second = invoke("--format", "json", "--no-cache", cwd=tmp_path).output
    assert first == second
    data = json.loads(first)
    assert data["version"] == 1 and data["summary"] == {"error": 1, "warning": 1, "info": 0}
    assert [(f["rule"], f["location"]) for f in data["findings"]] == [
        ("RA170", {"path": "loader.py", "line": 2, "col": 8}),
        ("RA101", {"path": "trainer.py", "line": 6, "col": 12}),
    ]


def test_scan_does_not_import_torch(tmp_path):
    write(tmp_path, "trainer.py", SKIP_FINAL)
    code = ("import sys\nfrom auditor.cli import main\n"
            "try:\n    main(['scan', '.', '--format', 'json'])\nexcept SystemExit:\n    pass\n"
            "assert 'torch' not in sys.modules, 'torch was imported'\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert '"RA101"' in proc.stdout


def _repo(tmp_path: Path) -> tuple[git.Repo, list[str]]:
    repo = git.Repo.init(tmp_path / "repo", initial_branch="main")
    actor = git.Actor("T", "t@example.org")
    shas = []
    for files in ({"trainer.py": SKIP_FINAL, "util.py": CLEAN}, {"trainer.py": CLEAN}):
        for rel, text in files.items():
            write(Path(repo.working_tree_dir), rel, text)
        repo.index.add(sorted(files))
        shas.append(repo.index.commit("c", author=actor, committer=actor).hexsha)
    return repo, shas


def test_rev_scans_the_old_content_without_touching_the_tree(tmp_path):
    repo, (old, new) = _repo(tmp_path)
    root = Path(repo.working_tree_dir)
    before = (root / "trainer.py").read_text()
    result = invoke("--rev", old[:8], "--format", "json", cwd=root)
    assert result.exit_code == 1
    findings = json.loads(result.output)["findings"]
    assert [(f["rule"], f["location"]["path"], f["location"]["line"]) for f in findings] == [("RA101", "trainer.py", 6)]
    text = invoke("--rev", old, cwd=root).output
    assert "val_metrics = {}" in text  # the caret excerpt comes from the blob, not the working tree
    assert invoke("--rev", new, cwd=root).exit_code == 0
    assert (root / "trainer.py").read_text() == before and not repo.is_dirty(untracked_files=True)
    bad = run_cli("scan", "--rev", "nosuchrev", cwd=root)
    assert bad.returncode == 2 and "nosuchrev" in bad.stderr and "Traceback" not in bad.stderr


def test_rev_reads_the_commits_own_packaging_files(tmp_path):
    """The torch floor that decides RA170 is the commit's pyproject, not an uncommitted edit of it."""
    repo = git.Repo.init(tmp_path / "repo", initial_branch="main")
    root = Path(repo.working_tree_dir)
    write(root, "load.py", "import torch\nstate = torch.load('ckpt.pt')\n")  # safe only from torch 2.6 on
    write(root, "pyproject.toml", '[project]\nname = "p"\ndependencies = ["torch>=2.0"]\n')
    repo.index.add(["load.py", "pyproject.toml"])
    repo.index.commit("c", author=git.Actor("T", "t@example.org"), committer=git.Actor("T", "t@example.org"))
    write(root, "pyproject.toml", '[project]\nname = "p"\ndependencies = ["torch>=2.6"]\n')  # not committed
    at_head = json.loads(invoke("--rev", "HEAD", "--format", "json", cwd=root).output)["findings"]
    assert [f["rule"] for f in at_head] == ["RA170"]
    assert invoke("--format", "json", cwd=root).exit_code == 0  # the working tree's floor makes it safe


def test_diff_reports_only_changed_lines(tmp_path):
    repo, (_, head) = _repo(tmp_path)
    root = Path(repo.working_tree_dir)
    # util.py: an old hazard committed in HEAD stays out; a new line with a hazard is reported
    write(root, "util.py", UNSAFE_LOAD + "other = torch.load('other.pt')\n")
    repo.index.add(["util.py"])
    repo.index.commit("base", author=git.Actor("T", "t@example.org"))
    base = repo.head.commit.hexsha
    write(root, "util.py", UNSAFE_LOAD + "other = torch.load('other.pt')\nnew = torch.load('new.pt')\n")
    write(root, "fresh.py", UNSAFE_LOAD)  # untracked: every line is new
    out = json.loads(invoke("--diff", base, "--format", "json", cwd=root).output)["findings"]
    assert [(f["location"]["path"], f["location"]["line"]) for f in out] == [("fresh.py", 2), ("util.py", 4)]
    everything = json.loads(invoke("--diff", base, "--all-lines", "--format", "json", cwd=root).output)["findings"]
    assert [(f["location"]["path"], f["location"]["line"]) for f in everything] == [
        ("fresh.py", 2), ("util.py", 2), ("util.py", 3), ("util.py", 4)]
    assert invoke("--rev", head, "--diff", base, cwd=root).exit_code == 2
