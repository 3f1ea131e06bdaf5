"""`audit hook install|uninstall|pre-push`: the pre-merge git hooks.

pre-commit runs `audit scan --staged` (the index against HEAD), and so does pre-merge-commit, which git runs
instead of pre-commit before it records a merge (the index then holds the merge result); they are installed
and removed together. pre-push runs `audit hook pre-push`, which reads the pushed refs from git and checks
each one's commits against what the remote has (auditor.gate).
A hook is a small shell script marked with SIGNATURE, so that we only ever overwrite or remove our own.
A foreign hook is left alone unless --force, and then it is backed up first (see install()).
"""

from __future__ import annotations

import hashlib
import os
import secrets
import shlex
import stat
import subprocess
import sys
from pathlib import Path

import click

from auditor.cli_common import config_option, get_config, report_options
from auditor.errors import InputError, UsageError

SIGNATURE = "# repro-auditor hook: installed by `audit hook install`; remove with `audit hook uninstall`"
BASELINE_FILE = ".auditor-baseline.json"

# How to run the auditor from the hook: the Python that installed it, else `audit` on PATH. git's arguments
# (pre-push: the remote's name and URL) are kept before `set --` makes room for the baseline option.
_RUNNER = """\
AUDIT_REMOTE=${{1-}}
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
# The staged blobs (what this commit records) against HEAD: every finding the commit brings blocks it.
audit scan --staged "$@"
status=$?
if [ $status -eq 1 ]; then
    echo "repro-auditor: commit blocked by the findings above (git commit --no-verify skips the check)" >&2
fi
exit $status
"""

# A merge without conflicts commits without pre-commit: git runs pre-merge-commit with the merged index.
_PRE_MERGE_COMMIT = """\
# The merge result (the index) against HEAD, before git records the merge commit.
audit scan --staged "$@"
status=$?
if [ $status -eq 1 ]; then
    echo "repro-auditor: merge blocked by the findings above (git merge --abort undoes it;" \
         "git merge --no-verify skips the check)" >&2
fi
exit $status
"""

# git passes "<local ref> <local sha> <remote ref> <remote sha>" lines on stdin: each pushed ref's commits
# are checked against what the remote already has (not the working tree).
_PRE_PUSH = """\
audit hook pre-push "$@" -- "$AUDIT_REMOTE"
status=$?
if [ $status -eq 1 ]; then
    echo "repro-auditor: push blocked by the findings above (git push --no-verify skips the check)" >&2
fi
exit $status
"""

BODIES = {"pre-commit": _PRE_COMMIT, "pre-merge-commit": _PRE_MERGE_COMMIT, "pre-push": _PRE_PUSH}
# What `audit hook install [--pre-commit|--pre-push]` writes: a commit is recorded by `git commit` or by
# `git merge`, so the commit check is two hooks.
HOOK_SETS = {"pre-commit": ("pre-commit", "pre-merge-commit"), "pre-push": ("pre-push",)}

BACKUP_MARK = "# repro-auditor backup: "  # "<file name> sha256=<hex>": the foreign hook we moved aside


def hook_script(kind: str, python: str | None = None, backup: tuple[str, str] | None = None) -> str:
    body = BODIES[kind]
    runner = _RUNNER.format(python=shlex.quote(python or sys.executable), baseline=shlex.quote(BASELINE_FILE))
    record = f"{BACKUP_MARK}{backup[0]} sha256={backup[1]}\n" if backup else ""
    return f"#!/bin/sh\n{SIGNATURE}\n{record}{runner}{body}"


def _read_regular(path: Path) -> bytes | None:
    """A regular file's bytes, never through a symlink (None for anything else)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        with os.fdopen(fd, "rb") as handle:
            fd = -1
            return handle.read()
    finally:
        if fd >= 0:
            os.close(fd)


def is_ours(path: Path) -> bool:
    data = _read_regular(path)
    return data is not None and SIGNATURE.encode() in data


def _recorded_backup(path: Path) -> tuple[str, str] | None:
    """(backup file name, sha256) recorded in our hook at `path`, if it replaced a foreign hook."""
    data = _read_regular(path) or b""
    for line in data.decode("utf-8", errors="replace").splitlines():
        if line.startswith(BACKUP_MARK):
            name, _, digest = line[len(BACKUP_MARK):].rpartition(" sha256=")
            if name and "/" not in name and digest:
                return name, digest
    return None


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


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _write_exclusive(folder: Path, stem: str, data: bytes, mode: int) -> Path:
    """A new file with a name nobody else holds (O_EXCL: never through a planted file or symlink)."""
    number = 0
    while True:
        name = stem if number == 0 else f"{stem}{number + 1}"
        candidate = folder / name
        try:
            fd = os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), mode)
        except FileExistsError:
            number += 1
            continue
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(candidate, mode)  # the umask must not take away the execute bits
        return candidate


def _backup_foreign(path: Path) -> tuple[Path, str]:
    """Copy a foreign hook aside (a symlink is kept as its target's path); returns (backup, its sha256)."""
    if path.is_symlink():
        data = f"#!/bin/sh\nexec {shlex.quote(os.readlink(path))} \"$@\"\n".encode()
    else:
        data = _read_regular(path)
        if data is None:
            raise InputError("the existing hook is not a regular file; move it away first", path=str(path))
    mode = 0o755 if path.is_symlink() else (path.lstat().st_mode & 0o777)
    backup = _write_exclusive(path.parent, path.name + ".audit-backup", data, mode)
    return backup, _sha256(data)


def install(repo: Path | str, kind: str = "pre-commit", force: bool = False, python: str | None = None) -> tuple[Path, Path | None]:
    """Write the hook; returns (hook path, backup of a foreign hook or None).

    The script goes to a fresh private temp name (O_EXCL) and is renamed over the hook: nothing planted in
    the hooks folder is written through. A foreign hook is copied aside first, and our hook records the
    copy's name and hash, so `uninstall` restores only a backup the auditor made, unchanged."""
    folder = hooks_dir(repo)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / kind
    backup = None
    record = _recorded_backup(path) if is_ours(path) else None  # a reinstall keeps the earlier record
    if os.path.lexists(path) and not is_ours(path):
        if not force:
            raise UsageError(f"a {kind} hook that is not ours already exists; use --force to replace it "
                             "(it is backed up first)", path=str(path))
        backup, digest = _backup_foreign(path)
        record = (backup.name, digest)
    script = hook_script(kind, python, record).encode("utf-8")
    tmp = _write_exclusive(folder, f".{kind}.audit-{secrets.token_hex(8)}.tmp", script, 0o755)
    try:
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)
        raise
    return path, backup


def install_set(repo: Path | str, which: str = "pre-commit", force: bool = False,
                python: str | None = None) -> list[tuple[Path, Path | None]]:
    """Install the hooks of HOOK_SETS[which]; a foreign hook among them stops all of them (nothing is written)
    unless --force."""
    folder = hooks_dir(repo)
    kinds = HOOK_SETS[which]
    foreign = [folder / k for k in kinds if os.path.lexists(folder / k) and not is_ours(folder / k)]
    if foreign and not force:
        names = " and ".join(p.name for p in foreign)
        raise UsageError(f"a {names} hook that is not ours already exists; use --force to replace it "
                         "(it is backed up first)", path=str(foreign[0]))
    return [install(repo, kind, force=force, python=python) for kind in kinds]


def uninstall(repo: Path | str, which: str | None = None) -> list[Path]:
    """Remove our hooks (every kind unless a set of HOOK_SETS is named); a foreign hook is never touched. A hook
    we replaced comes back only from the backup our hook recorded, and only if its hash still matches."""
    folder = hooks_dir(repo)
    removed = []
    for name in HOOK_SETS.get(which, (which,)) if which else list(BODIES):
        path = folder / name
        if not os.path.lexists(path):
            continue
        if not is_ours(path):
            if name == which:  # the named hook; a companion (pre-merge-commit) someone else wrote stays quietly
                raise UsageError(f"the {name} hook was not installed by the auditor; left alone", path=str(path))
            continue
        record = _recorded_backup(path)
        path.unlink()
        removed.append(path)
        if record is None:
            continue
        backup = folder / record[0]
        data = _read_regular(backup)
        if data is not None and _sha256(data) == record[1]:
            os.replace(backup, path)  # give back the hook --force replaced
        else:
            click.echo(f"left {backup} alone: it is not the backup the auditor made (changed or missing)", err=True)
    return removed


def _report(changes, config, *, baseline_file, fmt, output, fail_on, lookup) -> None:
    """Print the new findings (they decide the exit code) after a note on what was checked and what was known."""
    from auditor.cli_common import finish
    from auditor.gate import known_summary

    new = [f for change in changes for f in change.new]
    if baseline_file:
        from auditor.baseline import filter_new

        new = filter_new(new, baseline_file)
    preamble = known_summary(changes) or "Nothing to check: no commits that a remote does not have.\n"
    finish(new, fmt=fmt, output=output, fail_on=fail_on, config=config, source_lookup=lookup,
           title="audit hook", preamble=preamble)


def check_staged(start: Path, targets: list[Path], config_path: str | None, *, baseline_file, fmt, output, fail_on,
                 use_cache: bool = True, jobs: int | None = None) -> None:
    """`audit scan --staged`: the index against HEAD; exits like every report (1 when a new finding blocks).
    The configuration is the staged one too (unless --config names a file): what is committed is checked
    with the settings committed with it, not with an unstaged edit of pyproject.toml."""
    from auditor.gate import staged_change
    from auditor.vcs import Repo, scan_hint

    repo = Repo(start, scan_hint("--staged"))
    config = get_config(start, config_path) if config_path else staged_config(repo, start)
    rel = [os.path.relpath(t.resolve(), config.root.resolve()).replace(os.sep, "/") for t in targets]
    change = staged_change(repo, config, [("" if r == "." else r) for r in rel], use_cache=use_cache, jobs=jobs)
    _report([change], config, baseline_file=baseline_file, fmt=fmt, output=output, fail_on=fail_on,
            lookup=_index_lookup(repo, config))


def staged_config(repo, start: Path):
    """[tool.auditor] (or auditor.yaml) as staged in the index, searched from `start` up to the repository's top."""
    return _snapshot_config(repo, start, repo.index_blobs(), " (staged)")


def _snapshot_config(repo, start: Path, blobs: dict[str, str], label: str):
    from auditor.config import load_snapshot_config

    def read(path: Path) -> bytes | None:
        blob = blobs.get(path.relative_to(repo.root).as_posix())
        return repo.blob(blob) if blob else None

    return load_snapshot_config(start, repo.root, read, label)


def _index_lookup(repo, config):
    """The flagged line as staged (the text report's excerpt shows what is committed, not the working tree);
    a file is read from the index only when one of its findings is shown."""
    from auditor.gate import git_file, source_lookup

    files: dict = {}

    def staged(path: str, line: int) -> str | None:
        if path not in files:
            files[path] = git_file(repo, repo.index_blobs(), config, path)
        return lookup(path, line)

    lookup = source_lookup(files)
    return staged


@click.group()
def hook():
    """Install or remove the pre-merge git hooks (block what a commit or push brings)."""


@hook.command("install")
@click.option("--pre-push/--pre-commit", "pre_push", default=False,
              help="Check the pushed commits against the remote before each push, or (default) the staged "
                   "changes against HEAD before each commit and each merge commit (pre-commit and "
                   "pre-merge-commit hooks).")
@click.option("--force", is_flag=True, help="Replace a hook that is not ours (it is backed up first).")
@click.option("--repo", type=click.Path(file_okay=False), default=".", show_default=True, help="The git repository.")
def install_command(pre_push: bool, force: bool, repo: str):
    """Install the hook into the repository's hooks folder (respects core.hooksPath)."""
    for path, backup in install_set(repo, "pre-push" if pre_push else "pre-commit", force=force):
        if backup:
            click.echo(f"backed up the existing {path.name} hook to {backup}")
        click.echo(f"installed the {path.name} hook: {path}")


@hook.command("pre-push", short_help="What git runs before a push (reads the pushed refs on stdin).")
@click.argument("remote", required=False)
@click.argument("url", required=False)  # git's second argument: accepted, the remote's name is what counts
@click.option("--repo", type=click.Path(file_okay=False), default=".", show_default=True, help="The git repository.")
@click.option("--baseline", "baseline_file", type=click.Path(dir_okay=False), default=None,
              help="Leave out findings accepted in this baseline file.")
@report_options
@config_option
def pre_push_command(remote, url, repo, baseline_file, fmt, output, fail_on, config_path):  # noqa: ARG001
    """Check each pushed ref's commits against what the remote REMOTE already has.

    Reads git's pre-push input ("<local ref> <local sha> <remote ref> <remote sha>" lines) from stdin; under
    the pre-commit framework, its PRE_COMMIT_FROM_REF / PRE_COMMIT_TO_REF / PRE_COMMIT_REMOTE_NAME instead.
    The base of a pushed ref is the first commit on its first-parent line that a remote-tracking branch of
    REMOTE holds (every remote's count when REMOTE is not given or not a configured remote). Every finding the
    pushed commits bring (new by fingerprint) blocks the push; the ones the remote already had are listed as
    known."""
    from auditor.gate import ZERO_SHA, PushedRef, parse_push_lines, push_changes, source_lookup
    from auditor.vcs import Repo

    git_repo = Repo(repo, "pass --repo with the repository")
    to_ref = os.environ.get("PRE_COMMIT_TO_REF")
    if to_ref:
        refs = [PushedRef("HEAD", git_repo.resolve(to_ref), os.environ.get("PRE_COMMIT_REMOTE_BRANCH", "(remote)"),
                          git_repo.resolve(os.environ["PRE_COMMIT_FROM_REF"]) if os.environ.get("PRE_COMMIT_FROM_REF")
                          else ZERO_SHA)]
    else:
        refs = parse_push_lines(click.get_text_stream("stdin").read())
    # What is pushed is checked with the configuration pushed with it (the first pushed tip's; --config wins).
    tip = next((ref.local_sha for ref in refs if ref.local_sha != ZERO_SHA), None)
    if config_path or tip is None:
        config = get_config(git_repo.root, config_path)
    else:
        config = _snapshot_config(git_repo, git_repo.root, git_repo.blob_shas_at(tip), f" (at {tip[:10]})")
    changes = push_changes(git_repo, refs, config, remote or os.environ.get("PRE_COMMIT_REMOTE_NAME"))
    files = {}
    if changes:
        from auditor.gate import git_files

        for ref in refs:
            if ref.local_sha != ZERO_SHA:
                files.update({f.path: f for f in git_files(git_repo, ref.local_sha, config)})
    _report(changes, config, baseline_file=baseline_file, fmt=fmt, output=output, fail_on=fail_on,
            lookup=source_lookup(files))


@hook.command("uninstall")
@click.option("--pre-commit", "pre_commit", is_flag=True,
              help="The pre-commit and pre-merge-commit hooks (default: every hook of the auditor).")
@click.option("--pre-push", "pre_push", is_flag=True, help="The pre-push hook (default: every hook of the auditor).")
@click.option("--repo", type=click.Path(file_okay=False), default=".", show_default=True, help="The git repository.")
def uninstall_command(pre_commit: bool, pre_push: bool, repo: str):
    """Remove the auditor's hooks (never a hook someone else installed)."""
    kinds = [kind for kind, chosen in (("pre-commit", pre_commit), ("pre-push", pre_push)) if chosen]
    removed = [path for kind in kinds for path in uninstall(repo, kind)] if kinds else uninstall(repo)
    if not removed:
        click.echo("no auditor hook installed")
    for path in removed:
        click.echo(f"removed {path}")
