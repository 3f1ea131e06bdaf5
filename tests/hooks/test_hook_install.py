"""`audit hook install|uninstall` on real git repos, and the installed hook deciding real commits."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import git
import pytest

from auditor.errors import InputError
from auditor.hooks import SIGNATURE, hooks_dir, install, install_set, is_ours, uninstall

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))
from cli_helpers import run_cli  # noqa: E402

sys.path.insert(0, str(ROOT / "tests" / "nightly"))
from nightly_lab import TRAINER_OK, TRAINER_SKIP  # noqa: E402


def _repo(tmp_path: Path) -> git.Repo:
    repo = git.Repo.init(tmp_path / "proj")
    with repo.config_writer() as cfg:
        cfg.set_value("user", "name", "Dev")
        cfg.set_value("user", "email", "dev@example.com")
    root = Path(repo.working_tree_dir)
    (root / "trainer").mkdir()
    (root / "trainer" / "ray_trainer.py").write_text(TRAINER_OK)
    (root / "README.md").write_text("lab\n")
    repo.index.add(["trainer/ray_trainer.py", "README.md"])
    repo.index.commit("trainer")
    return repo


def _commit(root: Path, message: str) -> subprocess.CompletedProcess:
    """A real `git commit` (hooks run), staging everything first."""
    subprocess.run(["git", "add", "-A"], cwd=root, check=True)
    return subprocess.run(["git", "commit", "-m", message], cwd=root, capture_output=True, text=True)


def test_install_writes_an_executable_signed_hook(tmp_path):
    repo = _repo(tmp_path)
    root = Path(repo.working_tree_dir)
    proc = run_cli("hook", "install", cwd=root)
    assert proc.returncode == 0, proc.stderr
    hook = root / ".git" / "hooks" / "pre-commit"
    assert hook.is_file() and os.access(hook, os.X_OK)
    text = hook.read_text()
    assert SIGNATURE in text and "scan --staged" in text and sys.executable in text
    assert "installed the pre-commit hook" in proc.stdout
    merge_hook = root / ".git" / "hooks" / "pre-merge-commit"  # git merge runs this one, not pre-commit
    assert is_ours(merge_hook) and os.access(merge_hook, os.X_OK) and "scan --staged" in merge_hook.read_text()
    assert "installed the pre-merge-commit hook" in proc.stdout


def test_pre_push_hook_and_core_hooks_path(tmp_path):
    repo = _repo(tmp_path)
    root = Path(repo.working_tree_dir)
    with repo.config_writer() as cfg:
        cfg.set_value("core", "hooksPath", ".githooks")
    assert hooks_dir(root) == root / ".githooks"
    proc = run_cli("hook", "install", "--pre-push", "--repo", str(root), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    hook = root / ".githooks" / "pre-push"
    assert is_ours(hook) and "hook pre-push" in hook.read_text()
    assert not (root / ".git" / "hooks" / "pre-push").exists()
    assert run_cli("hook", "install", "--repo", str(root), cwd=tmp_path).returncode == 0
    assert is_ours(root / ".githooks" / "pre-merge-commit") and is_ours(root / ".githooks" / "pre-commit")
    assert not (root / ".git" / "hooks" / "pre-merge-commit").exists()
    proc = run_cli("hook", "uninstall", "--pre-commit", "--repo", str(root), cwd=tmp_path)
    assert proc.returncode == 0 and "pre-merge-commit" in proc.stdout
    assert sorted(p.name for p in (root / ".githooks").iterdir()) == ["pre-push"]


def test_foreign_hook_is_refused_then_backed_up_with_force_and_restored_on_uninstall(tmp_path):
    repo = _repo(tmp_path)
    root = Path(repo.working_tree_dir)
    foreign = root / ".git" / "hooks" / "pre-commit"
    foreign.write_text("#!/bin/sh\necho someone else's hook\n")
    proc = run_cli("hook", "install", cwd=root)
    assert proc.returncode == 2
    assert "not ours" in proc.stderr and "--force" in proc.stderr and str(foreign) in proc.stderr
    assert "someone else" in foreign.read_text()

    install(root, force=True)
    assert is_ours(foreign)
    backup = foreign.with_name("pre-commit.audit-backup")
    assert "someone else" in backup.read_text()

    proc = run_cli("hook", "uninstall", cwd=root)
    assert proc.returncode == 0, proc.stderr
    assert "someone else" in foreign.read_text() and not backup.exists()


def test_only_the_backup_the_auditor_made_is_restored(tmp_path):
    repo = _repo(tmp_path)
    root = Path(repo.working_tree_dir)
    hooks = root / ".git" / "hooks"
    planted = hooks / "pre-commit.audit-backup"
    planted.write_text("#!/bin/sh\necho planted by someone\n")  # not ours: must never come back as the hook
    (hooks / "pre-commit").write_text("#!/bin/sh\necho the user's hook\n")
    path, backup = install(root, force=True)
    assert backup == hooks / "pre-commit.audit-backup2" and "the user's hook" in backup.read_text()
    assert "planted by someone" in planted.read_text()
    assert install(root)[1] is None  # a reinstall keeps the record of the backup
    uninstall(root)
    assert "the user's hook" in (hooks / "pre-commit").read_text() and not backup.exists()
    assert planted.exists()

    # A backup changed since the auditor made it is left where it is, and the hook is not restored from it.
    (hooks / "pre-commit").write_text("#!/bin/sh\necho the user's hook\n")
    _, backup = install(root, force=True)
    backup.write_text("#!/bin/sh\necho tampered\n")
    proc = run_cli("hook", "uninstall", cwd=root)
    assert proc.returncode == 0 and "left" in proc.stderr and str(backup) in proc.stderr
    assert not (hooks / "pre-commit").exists() and backup.exists()


def test_hook_is_written_to_a_fresh_name_never_through_a_symlink(tmp_path):
    repo = _repo(tmp_path)
    root = Path(repo.working_tree_dir)
    hooks = root / ".git" / "hooks"
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    (hooks / "pre-commit").symlink_to(victim)  # a foreign hook that is a symlink: replaced, not written through
    path, backup = install(root, force=True)
    assert victim.read_text() == "precious\n"
    assert not path.is_symlink() and is_ours(path) and str(victim) in backup.read_text()
    assert not list(hooks.glob(".pre-commit.audit-*"))  # no temp file left behind


def test_a_foreign_pre_merge_commit_hook_gets_the_same_care(tmp_path):
    repo = _repo(tmp_path)
    root = Path(repo.working_tree_dir)
    hooks = root / ".git" / "hooks"
    foreign = hooks / "pre-merge-commit"
    foreign.write_text("#!/bin/sh\necho the team's merge hook\n")
    proc = run_cli("hook", "install", cwd=root)
    assert proc.returncode == 2 and "pre-merge-commit" in proc.stderr and "--force" in proc.stderr
    assert not (hooks / "pre-commit").exists()  # refused before anything is written
    assert "the team's merge hook" in foreign.read_text()

    install_set(root, force=True)
    backup = hooks / "pre-merge-commit.audit-backup"
    assert is_ours(foreign) and is_ours(hooks / "pre-commit") and "the team's merge hook" in backup.read_text()
    uninstall(root, "pre-commit")
    assert "the team's merge hook" in foreign.read_text() and not backup.exists()
    assert not (hooks / "pre-commit").exists()
    uninstall(root, "pre-commit")  # a foreign companion of the named hook is left alone, quietly
    assert "the team's merge hook" in foreign.read_text()


def test_uninstall_never_removes_a_foreign_hook(tmp_path):
    repo = _repo(tmp_path)
    root = Path(repo.working_tree_dir)
    foreign = root / ".git" / "hooks" / "pre-commit"
    foreign.write_text("#!/bin/sh\nexit 0\n")
    assert uninstall(root) == []
    assert foreign.exists()
    with pytest.raises(InputError, match="not installed by the auditor"):
        uninstall(root, "pre-commit")
    proc = run_cli("hook", "uninstall", "--pre-commit", cwd=root)
    assert proc.returncode == 2 and foreign.exists()


def test_reinstall_overwrites_our_own_hook_without_force(tmp_path):
    repo = _repo(tmp_path)
    root = Path(repo.working_tree_dir)
    install(root)
    path, backup = install(root)
    assert backup is None and is_ours(path)
    assert not list(path.parent.glob("*.audit-backup*"))


def test_not_a_repository_is_a_clear_error(tmp_path):
    proc = run_cli("hook", "install", "--repo", str(tmp_path), cwd=tmp_path)
    assert proc.returncode == 2
    assert "not a git repository" in proc.stderr and "Traceback" not in proc.stderr


def test_hook_blocks_the_verl_skip_and_lets_a_clean_change_through(tmp_path):
    repo = _repo(tmp_path)
    root = Path(repo.working_tree_dir)
    install(root)

    # An unrelated, clean change goes through.
    (root / "trainer" / "data.py").write_text("def load(path):\n    with open(path) as f:\n        return f.read()\n")
    ok = _commit(root, "add a loader")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert repo.head.commit.message.strip() == "add a loader"

    # The verl skip is blocked, with the finding shown.
    (root / "trainer" / "ray_trainer.py").write_text(TRAINER_SKIP)
    blocked = _commit(root, "fix: Skip final step validation to avoid Ray deadlock")
    assert blocked.returncode != 0
    output = blocked.stdout + blocked.stderr
    assert "RA101" in output and "commit blocked" in output
    assert repo.head.commit.message.strip() == "add a loader"

    # Reverting the skip lets the commit through again.
    (root / "trainer" / "ray_trainer.py").write_text(TRAINER_OK + "\n# tidy\n")
    fixed = _commit(root, "tidy")
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr


def test_a_clean_merge_that_brings_a_hazard_is_blocked(tmp_path):
    """`git merge` of a branch made without the hook: no conflict, so git commits the merge without running
    pre-commit; the pre-merge-commit hook checks the merge result against HEAD."""
    repo = _repo(tmp_path)
    root = Path(repo.working_tree_dir)
    git_ = lambda *a: subprocess.run(["git", *a], cwd=root, capture_output=True, text=True)  # noqa: E731
    main = repo.active_branch.name
    git_("checkout", "-q", "-b", "feature")
    (root / "trainer" / "ray_trainer.py").write_text(TRAINER_SKIP)
    assert _commit(root, "skip final validation (a teammate, no hook)").returncode == 0
    git_("checkout", "-q", main)
    (root / "README.md").write_text("lab, moved on\n")
    assert _commit(root, "main moves on").returncode == 0
    run_cli("hook", "install", cwd=root)

    merged = git_("merge", "--no-edit", "feature")
    output = merged.stdout + merged.stderr
    assert merged.returncode != 0, output
    assert "RA101" in output and "merge blocked" in output
    assert repo.head.commit.message.strip() == "main moves on"  # no merge commit
    git_("merge", "--abort")

    git_("checkout", "-q", "-b", "clean", f"{main}~1")
    (root / "NOTES.md").write_text("notes\n")
    assert _commit(root, "notes").returncode == 0
    git_("checkout", "-q", main)
    ok = git_("merge", "--no-edit", "clean")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert len(repo.head.commit.parents) == 2


def test_merging_main_into_a_feature_branch_takes_in_mains_findings_without_blocking(tmp_path):
    """`git merge main` on a feature branch: main's hazard (a teammate's, committed without the hook) is new to
    the branch but the merge did not make it (test_a_clean_merge_that_brings_a_hazard_is_blocked checks the
    other way: a side branch's hazard merged into main)."""
    repo = _repo(tmp_path)
    root = Path(repo.working_tree_dir)
    git_ = lambda *a: subprocess.run(["git", *a], cwd=root, capture_output=True, text=True)  # noqa: E731
    git_("branch", "-M", "main")
    git_("checkout", "-q", "-b", "feature")
    (root / "NOTES.md").write_text("notes\n")
    assert _commit(root, "notes").returncode == 0
    git_("checkout", "-q", "main")
    (root / "trainer" / "ray_trainer.py").write_text(TRAINER_SKIP)
    assert _commit(root, "skip final validation (a teammate, no hook)").returncode == 0
    run_cli("hook", "install", cwd=root)

    git_("checkout", "-q", "feature")
    merged = git_("merge", "--no-edit", "main")
    assert merged.returncode == 0, merged.stdout + merged.stderr
    assert len(repo.head.commit.parents) == 2


def test_hook_respects_an_accepted_baseline(tmp_path):
    repo = _repo(tmp_path)
    root = Path(repo.working_tree_dir)
    install(root)
    (root / "trainer" / "ray_trainer.py").write_text(TRAINER_SKIP)
    proc = run_cli("baseline", "create", cwd=root)
    assert proc.returncode == 0, proc.stderr
    accepted = _commit(root, "the skip, knowingly accepted")
    assert accepted.returncode == 0, accepted.stdout + accepted.stderr
