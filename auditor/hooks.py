"""`audit hook install|uninstall`: the pre-merge git hook that runs `audit scan --diff BASE`.

The hook is a small shell script marked with SIGNATURE, so that we only ever overwrite or remove
our own. A foreign hook is left alone unless --force, and then it is backed up first.
"""

from __future__ import annotations

import os
import shlex
import stat
import subprocess
import sys
from pathlib import Path

import click

from auditor.errors import InputError, UsageError

SIGNATURE = "# repro-auditor hook: installed by `audit hook install`; remove with `audit hook uninstall`"
BASELINE_FILE = ".auditor-baseline.json"

# How to run the auditor from the hook: the Python that installed it, else `audit` on PATH.
_RUNNER = """\
AUDIT_PYTHON={python}
if [ -x "$AUDIT_PYTHON" ] && "$AUDIT_PYTHON" -c "import auditor" >/dev/null 2>&1; then
    audit() {{ "$AUDIT_PYTHON" -m auditor "$@"; }}
elif ! command -v audit >/dev/null 2>&1; then
    echo "repro-auditor: neither $AUDIT_PYTHON nor 'audit' on PATH can run the auditor; skipping the check" >&2
    exit 0
fi
set --
if [ -f {baseline} ]; then
    set -- --baseline {baseline}
fi
"""

_PRE_COMMIT = """\
# Staged changes are checked against HEAD (only findings on changed lines block the commit).
if git rev-parse --verify -q HEAD >/dev/null; then
    audit scan --diff HEAD "$@"
else
    audit scan "$@"  # the first commit: everything in it is new
fi
status=$?
if [ $status -eq 1 ]; then
    echo "repro-auditor: commit blocked by the findings above (git commit --no-verify skips the check)" >&2
fi
exit $status
"""

# pre-push gets "<local ref> <local sha> <remote ref> <remote sha>" lines on stdin.
_PRE_PUSH = """\
zero=0000000000000000000000000000000000000000
status=0
while read -r local_ref local_sha remote_ref remote_sha; do
    [ "$local_sha" = "$zero" ] && continue  # a deleted branch: nothing to check
    if [ "$remote_sha" != "$zero" ] && git cat-file -e "$remote_sha" 2>/dev/null; then
        base=$remote_sha
    else
        upstream=$(git rev-parse --verify -q '@{upstream}' || git rev-parse --verify -q origin/HEAD || true)
        if [ -z "$upstream" ]; then
            echo "repro-auditor: no base to compare $local_ref with; skipping the check" >&2
            continue
        fi
        base=$(git merge-base "$upstream" "$local_sha")
    fi
    audit scan --diff "$base" "$@" </dev/null || status=$?
done
if [ $status -eq 1 ]; then
    echo "repro-auditor: push blocked by the findings above (git push --no-verify skips the check)" >&2
fi
exit $status
"""


def hook_script(kind: str, python: str | None = None) -> str:
    body = _PRE_COMMIT if kind == "pre-commit" else _PRE_PUSH
    runner = _RUNNER.format(python=shlex.quote(python or sys.executable), baseline=shlex.quote(BASELINE_FILE))
    return f"#!/bin/sh\n{SIGNATURE}\n{runner}{body}"


def is_ours(path: Path) -> bool:
    try:
        return SIGNATURE in path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False


def _git(repo: Path, *args: str) -> str:
    try:
        proc = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=False)
    except FileNotFoundError as exc:
        raise InputError("git is not installed") from exc
    if proc.returncode != 0:
        raise InputError(proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "git failed", path=str(repo))
    return proc.stdout.strip()


def hooks_dir(repo: Path | str) -> Path:
    """The folder git runs hooks from: core.hooksPath when set, else .git/hooks (worktrees included)."""
    repo = Path(repo).resolve()
    if not repo.exists():
        raise InputError("no such directory", path=str(repo))
    try:
        top = Path(_git(repo, "rev-parse", "--show-toplevel"))
    except InputError as exc:
        raise InputError("not a git repository (or the git command failed)", path=str(repo)) from exc
    configured = subprocess.run(["git", "config", "--get", "core.hooksPath"], cwd=top, capture_output=True,
                                text=True).stdout.strip()
    if configured:
        path = Path(os.path.expanduser(configured))
        return path if path.is_absolute() else top / path
    path = Path(_git(top, "rev-parse", "--git-path", "hooks"))
    return path if path.is_absolute() else top / path


def _backup_path(path: Path) -> Path:
    candidate = path.with_name(path.name + ".audit-backup")
    number = 1
    while candidate.exists():
        number += 1
        candidate = path.with_name(f"{path.name}.audit-backup{number}")
    return candidate


def install(repo: Path | str, kind: str = "pre-commit", force: bool = False, python: str | None = None) -> tuple[Path, Path | None]:
    """Write the hook; returns (hook path, backup of a foreign hook or None)."""
    folder = hooks_dir(repo)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / kind
    backup = None
    if path.exists() and not is_ours(path):
        if not force:
            raise UsageError(f"a {kind} hook that is not ours already exists; use --force to replace it "
                             "(it is backed up first)", path=str(path))
        backup = _backup_path(path)
        path.rename(backup)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(hook_script(kind, python), encoding="utf-8")
    tmp.chmod(tmp.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH | stat.S_IRUSR)
    os.replace(tmp, path)
    return path, backup


def uninstall(repo: Path | str, kind: str | None = None) -> list[Path]:
    """Remove our hooks (both kinds unless one is named); a foreign hook is never touched."""
    folder = hooks_dir(repo)
    removed = []
    for name in [kind] if kind else ["pre-commit", "pre-push"]:
        path = folder / name
        if not path.exists():
            continue
        if not is_ours(path):
            if kind:
                raise UsageError(f"the {name} hook was not installed by the auditor; left alone", path=str(path))
            continue
        path.unlink()
        removed.append(path)
        backup = path.with_name(path.name + ".audit-backup")
        if backup.exists():  # give back the hook --force replaced
            backup.rename(path)
    return removed


@click.group()
def hook():
    """Install or remove the pre-merge git hook (runs `audit scan --diff BASE`)."""


@hook.command("install")
@click.option("--pre-push/--pre-commit", "pre_push", default=False,
              help="Check the pushed commits against the remote before each push, or (default) the staged "
                   "changes against HEAD before each commit.")
@click.option("--force", is_flag=True, help="Replace a hook that is not ours (it is backed up first).")
@click.option("--repo", type=click.Path(file_okay=False), default=".", show_default=True, help="The git repository.")
def install_command(pre_push: bool, force: bool, repo: str):
    """Install the hook into the repository's hooks folder (respects core.hooksPath)."""
    kind = "pre-push" if pre_push else "pre-commit"
    path, backup = install(repo, kind, force=force)
    if backup:
        click.echo(f"backed up the existing {kind} hook to {backup}")
    click.echo(f"installed the {kind} hook: {path}")


@hook.command("uninstall")
@click.option("--pre-commit", "pre_commit", is_flag=True, help="The pre-commit hook (default: both).")
@click.option("--pre-push", "pre_push", is_flag=True, help="The pre-push hook (default: both).")
@click.option("--repo", type=click.Path(file_okay=False), default=".", show_default=True, help="The git repository.")
def uninstall_command(pre_commit: bool, pre_push: bool, repo: str):
    """Remove the auditor's hooks (never a hook someone else installed)."""
    kinds = [kind for kind, chosen in (("pre-commit", pre_commit), ("pre-push", pre_push)) if chosen]
    removed = [path for kind in kinds for path in uninstall(repo, kind)] if kinds else uninstall(repo)
    if not removed:
        click.echo("no auditor hook installed")
    for path in removed:
        click.echo(f"removed {path}")
