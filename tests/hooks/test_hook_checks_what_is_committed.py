"""The installed hooks check exactly what is committed or pushed, on real repositories with real `git commit`
and `git push`: the staged blobs (not the working tree), each pushed ref's commits (not HEAD's working tree),
and a hazard made by deleting a line is blocked although no added line carries it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import git

from auditor.hooks import install

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))
from cli_helpers import run_cli  # noqa: E402

SEEDED = '''\
import numpy as np
import torch


def main():
    torch.manual_seed(0)
    np.random.seed(0)
    model = torch.nn.Linear(4, 1)
    idx = np.random.permutation(100)
    return model, idx


if __name__ == "__main__":
    main()
'''
UNSEEDED = SEEDED.replace("    torch.manual_seed(0)\n    np.random.seed(0)\n", "")
# An old hazard elsewhere: known at the base, it must not block anything.
LEGACY = "import torch\n\n\ndef load(path):\n    return torch.load(path)\n"


def _audit_stdin(cwd: Path, stdin: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "auditor", *args], cwd=cwd, capture_output=True, text=True,
                          input=stdin, timeout=600)


def _git(cwd: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, input=stdin)


def _repo(tmp_path: Path, name: str = "proj") -> tuple[git.Repo, Path]:
    repo = git.Repo.init(tmp_path / name, initial_branch="main")
    with repo.config_writer() as cfg:
        cfg.set_value("user", "name", "Dev")
        cfg.set_value("user", "email", "dev@example.com")
    root = Path(repo.working_tree_dir)
    (root / "train.py").write_text(SEEDED)
    (root / "legacy.py").write_text(LEGACY)
    repo.index.add(["train.py", "legacy.py"])
    repo.index.commit("start")
    return repo, root


def test_a_deleted_seed_is_blocked_and_the_legacy_finding_is_known(tmp_path):
    repo, root = _repo(tmp_path)
    install(root)
    (root / "train.py").write_text(UNSEEDED)  # the only change: two lines removed
    _git(root, "add", "train.py")
    blocked = _git(root, "commit", "-m", "tidy up")
    out = blocked.stdout + blocked.stderr
    assert blocked.returncode != 0, out
    assert "RA110" in out and "commit blocked" in out
    assert "known: legacy.py:5 RA170" in out and "1 known" in out  # reported, not blocking
    assert repo.head.commit.message.strip() == "start"


def test_pre_commit_checks_the_staged_blob_not_the_working_tree(tmp_path):
    repo, root = _repo(tmp_path)
    install(root)
    # `git add -p` style: the unseeded version is staged, the working tree has the seed back.
    (root / "train.py").write_text(UNSEEDED)
    _git(root, "add", "train.py")
    (root / "train.py").write_text(SEEDED)
    blocked = _git(root, "commit", "-m", "stage the unseeded file only")
    assert blocked.returncode != 0 and "RA110" in blocked.stdout + blocked.stderr
    assert repo.head.commit.message.strip() == "start"

    # The reverse: a broken working tree does not block a clean staged change.
    _git(root, "add", "train.py")  # index back to the seeded version
    (root / "notes.py").write_text("def f():\n    return 1\n")
    _git(root, "add", "notes.py")
    (root / "train.py").write_text(UNSEEDED)  # unstaged
    ok = _git(root, "commit", "-m", "a helper")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "0 new finding(s)" in ok.stdout + ok.stderr


def test_scan_staged_json_lists_only_new_findings(tmp_path):
    repo, root = _repo(tmp_path)
    (root / "train.py").write_text(UNSEEDED)
    _git(root, "add", "train.py")
    proc = run_cli("scan", "--staged", "--format", "json", cwd=root)
    assert proc.returncode == 1, proc.stderr
    findings = json.loads(proc.stdout)["findings"]
    assert [(f["rule"], f["location"]["path"]) for f in findings] == [("RA110", "train.py")]


def test_first_commit_checks_everything_staged(tmp_path):
    repo = git.Repo.init(tmp_path / "fresh")
    root = Path(repo.working_tree_dir)
    (root / "train.py").write_text(UNSEEDED)
    _git(root, "add", "train.py")
    proc = run_cli("scan", "--staged", cwd=root)
    assert proc.returncode == 1 and "RA110" in proc.stdout and "first commit" in proc.stdout


def _with_remote(tmp_path: Path) -> tuple[git.Repo, Path, Path]:
    repo, root = _repo(tmp_path)
    remote = tmp_path / "remote.git"
    git.Repo.init(remote, bare=True, initial_branch="main")
    assert _git(root, "remote", "add", "origin", str(remote)).returncode == 0
    assert _git(root, "push", "-q", "origin", "main").returncode == 0
    install(root, "pre-push")
    return repo, root, remote


def test_push_of_a_non_head_ref_checks_that_ref(tmp_path):
    repo, root, remote = _with_remote(tmp_path)
    # A branch that drops the seed, then back on main (clean) to push the branch by name.
    _git(root, "checkout", "-q", "-b", "unseeded")
    (root / "train.py").write_text(UNSEEDED)
    _git(root, "commit", "-qam", "drop the seed", "--no-verify")
    _git(root, "checkout", "-q", "main")
    assert (root / "train.py").read_text() == SEEDED
    pushed = _git(root, "push", "origin", "unseeded")
    out = pushed.stdout + pushed.stderr
    assert pushed.returncode != 0, out
    assert "RA110" in out and "push blocked" in out and "refs/heads/unseeded" in out
    assert _git(remote, "rev-parse", "--verify", "-q", "refs/heads/unseeded").returncode != 0

    # main itself has nothing new: pushing it goes through.
    ok = _git(root, "push", "origin", "main")
    assert ok.returncode == 0, ok.stdout + ok.stderr


def test_push_with_an_uncommitted_fix_checks_the_commits(tmp_path):
    repo, root, remote = _with_remote(tmp_path)
    (root / "train.py").write_text(UNSEEDED)
    _git(root, "commit", "-qam", "drop the seed", "--no-verify")
    (root / "train.py").write_text(SEEDED)  # fixed in the working tree only
    blocked = _git(root, "push", "origin", "main")
    assert blocked.returncode != 0 and "RA110" in blocked.stdout + blocked.stderr
    remote_main = _git(remote, "rev-parse", "main").stdout.strip()
    assert remote_main != repo.head.commit.hexsha

    _git(root, "commit", "-qam", "seed again", "--no-verify")
    ok = _git(root, "push", "origin", "main")
    assert ok.returncode == 0, ok.stdout + ok.stderr  # the two commits together bring nothing new


def test_pre_push_reads_refs_from_stdin_and_skips_deletions(tmp_path):
    repo, root, remote = _with_remote(tmp_path)
    zero = "0" * 40
    head = repo.head.commit.hexsha
    proc = _audit_stdin(root, f"refs/heads/main {zero} refs/heads/old {head}\n", "hook", "pre-push")
    assert proc.returncode == 0 and "Nothing to check" in proc.stdout
    bad = _audit_stdin(root, "garbage\n", "hook", "pre-push")
    assert bad.returncode == 2 and "pre-push input" in bad.stderr and "Traceback" not in bad.stderr


def test_pre_push_under_the_pre_commit_framework_reads_its_refs_from_the_environment(tmp_path):
    repo, root = _repo(tmp_path)
    start = repo.head.commit.hexsha
    (root / "train.py").write_text(UNSEEDED)
    _git(root, "commit", "-qam", "drop the seed")
    env = {**os.environ, "PRE_COMMIT_FROM_REF": start, "PRE_COMMIT_TO_REF": "HEAD",
           "PRE_COMMIT_REMOTE_BRANCH": "refs/heads/main"}
    proc = subprocess.run([sys.executable, "-m", "auditor", "hook", "pre-push"], cwd=root, capture_output=True,
                          text=True, env=env, stdin=subprocess.DEVNULL, timeout=600)
    assert proc.returncode == 1 and "RA110" in proc.stdout and "1 commit(s) since" in proc.stdout


def test_the_staged_configuration_decides_not_the_working_trees(tmp_path):
    """The commit is checked with the [tool.auditor] committed with it: an ignore staged in pyproject.toml
    lets the commit through although the working tree's pyproject no longer ignores; and the reverse."""
    repo, root = _repo(tmp_path)
    install(root)
    pyproject = root / "pyproject.toml"
    pyproject.write_text('[project]\nname = "proj"\n\n[tool.auditor]\nignore = ["RA110"]\n')
    _git(root, "add", "pyproject.toml")
    pyproject.write_text('[project]\nname = "proj"\n')  # unstaged: the ignore is gone from the working tree
    (root / "train.py").write_text(UNSEEDED)
    _git(root, "add", "train.py")
    ok = _git(root, "commit", "-m", "unseeded, RA110 ignored in the committed config")
    assert ok.returncode == 0, ok.stdout + ok.stderr

    # Now the working tree ignores RA110 but the index does not: blocked.
    _git(root, "add", "pyproject.toml")  # stage the version without the ignore
    (root / "train.py").write_text(SEEDED)
    _git(root, "commit", "-am", "seed back")
    (root / "train.py").write_text(UNSEEDED)
    _git(root, "add", "train.py")
    pyproject.write_text('[project]\nname = "proj"\n\n[tool.auditor]\nignore = ["RA110"]\n')  # unstaged
    blocked = _git(root, "commit", "-m", "unseeded again")
    assert blocked.returncode != 0 and "RA110" in blocked.stdout + blocked.stderr


def test_scan_staged_names_the_staged_config_in_its_errors_and_config_overrides(tmp_path):
    repo, root = _repo(tmp_path)
    (root / "pyproject.toml").write_text('[tool.auditor]\nfail-on = "sometimes"\n')
    _git(root, "add", "pyproject.toml")
    (root / "pyproject.toml").write_text('[tool.auditor]\nfail-on = "error"\n')  # fixed, not staged
    broken = run_cli("scan", "--staged", cwd=root)
    assert broken.returncode == 2 and "pyproject.toml (staged)" in broken.stderr and "fail-on" in broken.stderr
    # --config names a file: that file is the configuration
    (root / "train.py").write_text(UNSEEDED)
    _git(root, "add", "train.py")
    other = tmp_path / "ci.toml"
    other.write_text('[tool.auditor]\nignore = ["RA110"]\n')
    ok = run_cli("scan", "--staged", "--config", str(other), cwd=root)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    # a config file that is only in the working tree (never staged) is not what the commit holds
    (root / "pyproject.toml").unlink()
    _git(root, "rm", "--cached", "-q", "pyproject.toml")
    (root / "auditor.yaml").write_text("ignore: [RA110]\n")
    blocked = run_cli("scan", "--staged", cwd=root)
    assert blocked.returncode == 1 and "RA110" in blocked.stdout


def test_pre_push_uses_the_configuration_of_the_pushed_commit(tmp_path):
    repo, root, remote = _with_remote(tmp_path)
    (root / "train.py").write_text(UNSEEDED)
    _git(root, "commit", "-qam", "drop the seed", "--no-verify")
    pyproject = root / "pyproject.toml"
    pyproject.write_text('[tool.auditor]\nignore = ["RA110"]\n')  # ignored in the working tree only
    blocked = _git(root, "push", "origin", "main")
    assert blocked.returncode != 0 and "RA110" in blocked.stdout + blocked.stderr

    _git(root, "add", "pyproject.toml")
    _git(root, "commit", "-qm", "RA110 ignored in the pushed config", "--no-verify")
    pyproject.write_text('[tool.auditor]\nfail-on = "error"\n')  # the working tree's no longer ignores
    ok = _git(root, "push", "origin", "main")
    assert ok.returncode == 0, ok.stdout + ok.stderr


def _branch_pushed_then_main_gains_a_hazard(tmp_path):
    """A clean branch `feat` pushed; then a teammate's commit on main drops the seed, pushed without the hook."""
    repo, root, remote = _with_remote(tmp_path)
    _git(root, "checkout", "-q", "-b", "feat")
    (root / "notes.py").write_text("def note():\n    return 1\n")
    _git(root, "add", "notes.py")
    _git(root, "commit", "-qm", "a clean helper")
    assert _git(root, "push", "-q", "-u", "origin", "feat").returncode == 0
    _git(root, "checkout", "-q", "main")
    (root / "train.py").write_text(UNSEEDED)
    _git(root, "commit", "-qam", "teammate: drop the seed")
    assert _git(root, "push", "-q", "--no-verify", "origin", "main").returncode == 0
    return root


def test_force_push_after_a_rebase_onto_the_remotes_main_knows_mains_findings(tmp_path):
    """A branch pushed, main moved on the remote with a teammate's hazard, the branch rebased onto it and
    force-pushed: the base is what the remote has under the pushed line (origin/main), not the branch's old
    tip, so the teammate's hazard is known. A branch holding a hazard merged into main is still new to main."""
    root = _branch_pushed_then_main_gains_a_hazard(tmp_path)

    _git(root, "checkout", "-q", "feat")
    assert _git(root, "rebase", "-q", "origin/main").returncode == 0
    pushed = _git(root, "push", "-f", "origin", "feat")
    out = pushed.stdout + pushed.stderr
    assert pushed.returncode == 0, out
    assert "known: train.py" in out and "RA110" in out and "0 new finding(s)" in out

    # The branch with the hazard, already on the remote, merged into main: main gains it, so it is new there.
    _git(root, "checkout", "-q", "-b", "unsafe", "origin/main~1")
    (root / "sweep.py").write_text(UNSEEDED)
    _git(root, "add", "sweep.py")
    _git(root, "commit", "-qm", "an unseeded sweep")
    assert _git(root, "push", "-q", "--no-verify", "origin", "unsafe").returncode == 0
    _git(root, "checkout", "-q", "main")
    _git(root, "merge", "-q", "--no-edit", "unsafe")
    blocked = _git(root, "push", "origin", "main")
    out = blocked.stdout + blocked.stderr
    assert blocked.returncode != 0 and "sweep.py" in out and "RA110" in out and "push blocked" in out, out


def test_merging_the_remotes_main_into_a_pushed_branch_brings_no_new_finding(tmp_path):
    """`git merge origin/main` on a feature branch takes in main's code, a teammate's hazard with it: the push
    of the branch did not introduce it (the branch's own line is judged against its old tip)."""
    root = _branch_pushed_then_main_gains_a_hazard(tmp_path)

    _git(root, "checkout", "-q", "feat")
    assert _git(root, "merge", "-q", "--no-edit", "origin/main").returncode == 0
    pushed = _git(root, "push", "origin", "feat")
    out = pushed.stdout + pushed.stderr
    assert pushed.returncode == 0, out
    assert "known: train.py" in out and "0 new finding(s)" in out
    # a hazard of the branch's own, next to the merge, is still new
    (root / "sweep.py").write_text(UNSEEDED)
    _git(root, "add", "sweep.py")
    _git(root, "commit", "-qm", "an unseeded sweep")
    blocked = _git(root, "push", "origin", "feat")
    out = blocked.stdout + blocked.stderr
    assert blocked.returncode != 0 and "sweep.py" in out and "push blocked" in out, out


def test_the_base_is_what_the_remote_pushed_to_has_not_another_remote(tmp_path):
    repo, root, remote = _with_remote(tmp_path)
    (root / "train.py").write_text(UNSEEDED)
    _git(root, "commit", "-qam", "drop the seed")
    assert _git(root, "push", "-q", "--no-verify", "origin", "main").returncode == 0  # origin has the hazard
    mirror = tmp_path / "mirror.git"
    git.Repo.init(mirror, bare=True, initial_branch="main")
    _git(root, "remote", "add", "mirror", str(mirror))
    blocked = _git(root, "push", "mirror", "main")  # the mirror has nothing yet: every finding is new to it
    out = blocked.stdout + blocked.stderr
    assert blocked.returncode != 0 and "RA110" in out and "nothing of it is on a remote" in out, out
    ok = _git(root, "push", "origin", "HEAD:refs/heads/copy")  # origin has every commit: nothing to check
    assert ok.returncode == 0 and "Nothing to check" in ok.stdout + ok.stderr


def test_a_moved_or_renamed_file_keeps_its_known_findings(tmp_path):
    """A finding's fingerprint holds its path: a pure `git mv` (R100), or a rename with small edits elsewhere
    in the file, carries the base's findings to the new path, so they stay known; a new hazard in the moved
    file is still new, and the reports' fingerprints are those of a plain scan of the new path."""
    repo, root = _repo(tmp_path)
    (root / "train.py").write_text(UNSEEDED)  # a legacy error too, committed before the hook
    _git(root, "commit", "-qam", "legacy: unseeded", "--no-verify")
    install(root)
    (root / "scripts").mkdir()
    assert _git(root, "mv", "legacy.py", "scripts/legacy.py").returncode == 0
    _git(root, "mv", "train.py", "trainer.py")
    (root / "trainer.py").write_text(UNSEEDED.replace("def main():", "def main():\n    \"\"\"Train.\"\"\""))
    _git(root, "add", "trainer.py")
    status = _git(root, "diff", "--cached", "-M", "--name-status").stdout
    assert "R100\tlegacy.py\tscripts/legacy.py" in status and "\ttrain.py\ttrainer.py" in status
    moved = _git(root, "commit", "-m", "move things")
    out = moved.stdout + moved.stderr
    assert moved.returncode == 0, out
    assert "0 new finding(s), 2 known" in out and "known: trainer.py" in out and "known: scripts/legacy.py" in out

    # Moved again, with a second bare load added: that one is new; and a new unseeded entry point beside it.
    _git(root, "mv", "scripts/legacy.py", "loaders.py")
    (root / "loaders.py").write_text(LEGACY + "\n\nSTATE = torch.load('init.pt')\n")
    (root / "sweep.py").write_text(UNSEEDED)
    _git(root, "add", "-A")
    proc = run_cli("scan", "--staged", "--format", "json", "--fail-on", "info", cwd=root)
    assert proc.returncode == 1, proc.stderr
    new = json.loads(proc.stdout)["findings"]
    assert [(f["rule"], f["location"]["path"], f["location"]["line"]) for f in new] == [
        ("RA170", "loaders.py", 8), ("RA110", "sweep.py", 11)]
    plain = json.loads(run_cli("scan", "--format", "json", cwd=root).stdout)["findings"]
    assert {f["fingerprint"] for f in new} <= {f["fingerprint"] for f in plain}  # the contract's fingerprints


def test_a_moved_file_in_a_declared_encoding_keeps_its_known_findings(tmp_path):
    """The flagged line holds a non-ASCII character and the file declares latin-1: its findings are carried
    by the line as the scan reads it, so the move leaves them known."""
    repo, root = _repo(tmp_path)
    latin = "# -*- coding: latin-1 -*-\nimport torch\nm = torch.load('mod\u00e8le.pt')\n".encode("latin-1")
    (root / "old.py").write_bytes(latin)
    _git(root, "add", "old.py")
    _git(root, "commit", "-qm", "legacy, in latin-1", "--no-verify")
    assert _git(root, "mv", "old.py", "loader.py").returncode == 0
    proc = run_cli("scan", "--staged", "--fail-on", "info", cwd=root)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 new finding(s)" in proc.stdout + proc.stderr and "known: loader.py" in proc.stdout + proc.stderr


def test_scan_diff_and_pre_push_know_a_moved_files_findings(tmp_path):
    repo, root, remote = _with_remote(tmp_path)
    _git(root, "checkout", "-q", "-b", "tidy")
    (root / "tools").mkdir()
    _git(root, "mv", "legacy.py", "tools/legacy.py")
    _git(root, "commit", "-qm", "move the loader", "--no-verify")
    committed = run_cli("scan", "--diff", "main", "--fail-on", "warning", cwd=root)
    assert committed.returncode == 0 and "0 finding(s) new since main" in committed.stdout, committed.stdout

    (root / "tools" / "legacy.py").rename(root / "loader.py")  # moved again, not added: still the same finding
    untracked = run_cli("scan", "--diff", "main", "--fail-on", "warning", cwd=root)
    assert untracked.returncode == 0 and "0 finding(s) new since main" in untracked.stdout, untracked.stdout
    assert _git(root, "status", "--porcelain").stdout.count("??") == 1  # the index was left alone

    _git(root, "checkout", "-q", "--", ".")
    (root / "loader.py").unlink()
    pushed = _git(root, "push", "origin", "tidy")
    out = pushed.stdout + pushed.stderr
    assert pushed.returncode == 0 and "known: tools/legacy.py" in out, out


def test_scan_staged_outside_a_repository_says_what_to_do(tmp_path):
    (tmp_path / "train.py").write_text(SEEDED)
    for option in (["--staged"], ["--diff", "main"], ["--rev", "HEAD"]):
        proc = run_cli("scan", *option, cwd=tmp_path)
        assert proc.returncode == 2 and "not a git repository" in proc.stderr, proc.stderr
        assert "--repo" not in proc.stderr and f"audit scan {option[0]}" in proc.stderr and "path/in/repo" in proc.stderr
    elsewhere = _repo(tmp_path, "proj")[1]
    (elsewhere / "train.py").write_text(UNSEEDED)
    _git(elsewhere, "add", "train.py")
    named = run_cli("scan", "--staged", str(elsewhere), cwd=tmp_path)  # as the message suggests
    assert named.returncode == 1 and "RA110" in named.stdout, named.stdout + named.stderr


def test_an_executable_python_script_without_a_suffix_is_checked_like_a_py_file(tmp_path):
    """`bin/evaluate` (executable, `#!/usr/bin/env python3`): the hook, `audit scan .`, --rev and --diff treat it
    as Python, by one rule; an executable shell script and a non-executable file without a suffix are not."""
    repo, root = _repo(tmp_path)
    install(root)
    (root / "bin").mkdir()
    script = root / "bin" / "evaluate"
    script.write_text("#!/usr/bin/env python3\n" + LEGACY.replace("def load", "def load_ckpt"))
    script.chmod(0o755)
    (root / "bin" / "run").write_text("#!/bin/sh\nexec python -c 'import torch; torch.load(\"x\")'\n")
    (root / "bin" / "run").chmod(0o755)
    (root / "NOTES").write_text("#!python\nimport torch\ntorch.load('x')\n")  # not executable: not a script
    _git(root, "add", "-A")
    staged = run_cli("scan", "--staged", "--format", "json", "--fail-on", "info", cwd=root)
    assert [f["location"]["path"] for f in json.loads(staged.stdout)["findings"]] == ["bin/evaluate"], staged.stdout
    walk = json.loads(run_cli("scan", "--format", "json", cwd=root).stdout)["findings"]
    assert {f["location"]["path"] for f in walk} == {"legacy.py", "bin/evaluate"}
    _git(root, "commit", "-qm", "an evaluation script", "--no-verify")
    at_rev = json.loads(run_cli("scan", "--rev", "HEAD", "--format", "json", cwd=root).stdout)["findings"]
    assert {f["location"]["path"] for f in at_rev} == {"legacy.py", "bin/evaluate"}
    script.rename(root / "bin" / "evaluate-ckpt")  # moved, not added: --diff knows it
    moved = run_cli("scan", "--diff", "HEAD", "--fail-on", "info", cwd=root)
    assert moved.returncode == 0 and "0 finding(s) new" in moved.stdout, moved.stdout


def test_a_pyproject_change_that_makes_a_bare_load_unsafe_is_new(tmp_path):
    """Each side is scanned with its own packaging files: a commit that only lowers the torch floor under a bare
    torch.load (safe from torch 2.6) brings RA170, though no .py file changed."""
    repo, root = _repo(tmp_path)
    pyproject = root / "pyproject.toml"
    pyproject.write_text('[project]\nname = "lab"\ndependencies = ["torch>=2.6"]\n\n[tool.auditor]\nfail-on = "warning"\n')
    _git(root, "add", "pyproject.toml")
    _git(root, "commit", "-qm", "torch>=2.6: a bare torch.load is safe")
    assert "RA170" not in run_cli("scan", cwd=root).stdout
    install(root)
    pyproject.write_text(pyproject.read_text().replace("torch>=2.6", "torch>=2.0"))
    _git(root, "add", "pyproject.toml")
    blocked = _git(root, "commit", "-m", "support torch 2.0 again")
    out = blocked.stdout + blocked.stderr
    assert blocked.returncode != 0 and "RA170" in out and "legacy.py" in out and "0 known" in out, out
    diff = run_cli("scan", "--diff", "HEAD", cwd=root)  # the working tree against HEAD's own pyproject
    assert diff.returncode == 1 and "RA170" in diff.stdout, diff.stdout
