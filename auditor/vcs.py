"""The one layer over git (plain `git` processes): resolve SHAs, read trees at a SHA, list commits and changes.

Nothing here checks anything out or writes into the repository: files are read from tree and
blob objects, and git commands run with GIT_OPTIONAL_LOCKS=0 so that even `git diff` against
the working tree does not refresh (rewrite) the index. Every failure is an InputError with a
message a person can act on.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
import threading
import weakref
from functools import partial
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from auditor.errors import InputError

if TYPE_CHECKING:
    from auditor.config import Config
    from auditor.findings import Finding

# Plain `git` processes, no gitpython: importing it costs a pre-commit hook more than the whole warm scan.
GIT_ENV = {"GIT_OPTIONAL_LOCKS": "0", "LC_ALL": "C", "GIT_TERMINAL_PROMPT": "0"}

SHALLOW_HINT = "the repository is shallow: fetch more history (git fetch --unshallow)"
MAX_SOURCE_BYTES = 2_000_000  # larger .py blobs are generated data, not code worth scanning
_HEX = re.compile(r"^[0-9a-fA-F]{4,40}$")
_HUNK = re.compile(r"^@@ -\d+(?:,\d+)? \+(\d+)(?:,(\d+))? @@")


@dataclass(frozen=True)
class Commit:
    sha: str
    short: str
    summary: str
    author: str
    date: str  # author date, ISO 8601 as recorded in the commit


@dataclass(frozen=True)
class FileChange:
    path: str
    status: str  # A added, M modified, D deleted, R renamed, C copied, T type change
    added: int  # lines; 0 for binary files
    removed: int
    old_path: str | None = None  # for renames and copies


def scan_hint(option: str) -> str:
    """What `audit scan --staged/--diff/--rev` outside a repository should say (scan has no --repo)."""
    return (f"{option.split()[0]} reads git: run it inside the repository, or name a path in it: "
            f"audit scan {option} path/in/repo")


RECORDED_SHA = re.compile(r"[0-9a-fA-F]{4,64}")


class Repo:
    """A git repository on disk. `Repo(path)` accepts any folder inside the work tree."""

    def __init__(self, path: str | os.PathLike = ".", hint: str = "pass --repo with the repository the runs came from"):
        """`hint`: what to do when `path` is in no git repository (the command's own way to name one)."""
        where = Path(path).expanduser()
        if not where.exists():
            raise InputError("no such directory (expected a git repository)", path=str(where))
        folder = where if where.is_dir() else where.parent
        # --show-toplevel last: in a bare repository (or inside .git) it fails after printing the rest.
        status, out, _ = _git(folder, ["rev-parse", "--path-format=absolute", "--is-bare-repository", "--git-dir",
                                       "--git-common-dir", "--show-toplevel"], folder)
        lines = out.splitlines()
        if len(lines) < 3:
            raise InputError(f"not a git repository ({hint})", path=str(where))
        self.bare = lines[0].strip() == "true"
        self.git_dir, self.common_dir = Path(lines[1]).resolve(), Path(lines[2]).resolve()
        if self.bare:
            self.root = self.git_dir
        else:
            self.root = Path(lines[3]).resolve() if status == 0 and len(lines) > 3 else self.git_dir.parent
        self._resolved: dict[str, str] = {}
        self._blobs: dict[str, bytes] = {}  # blob sha -> data: content-addressed, so never stale
        self._index: dict[str, str] | None = None
        self._index_executables: frozenset[str] = frozenset()
        self._objects = _ObjectReader(self.root)

    # -- plumbing ---------------------------------------------------------------------------

    def _status(self, *args: str) -> tuple[int, str, str]:
        return _git(self.root, ["-c", "core.quotePath=false", *args], self.root)

    def _run(self, *args: str, what: str = "", env: dict[str, str] | None = None) -> str:
        status, out, err = _git(self.root, ["-c", "core.quotePath=false", *args], self.root, env)
        if status != 0:
            detail = err.strip().splitlines()
            message = detail[-1].strip() if detail else f"exit status {status}"
            if self.is_shallow():
                message += f" ({SHALLOW_HINT})"
            raise InputError(f"{what or 'git ' + args[0]} failed: {message}", path=str(self.root))
        return out

    def close(self) -> None:
        self._objects.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- revisions --------------------------------------------------------------------------

    def is_shallow(self) -> bool:
        return (self.common_dir / "shallow").exists()

    def head_sha(self) -> str:
        status, out, _ = self._status("rev-parse", "--verify", "--quiet", "HEAD^{commit}")  # detached HEAD is fine
        if status != 0 or not out.strip():
            raise InputError("the repository has no commits yet", path=str(self.root))
        return out.strip()

    def resolve(self, rev: str) -> str:
        """Full 40-hex SHA of a commit named by `rev` (a full or abbreviated SHA, branch, tag, HEAD~2...)."""
        rev = str(rev).strip()
        if rev in self._resolved:
            return self._resolved[rev]
        if not rev or rev.startswith("-"):
            raise InputError(f"{rev!r} is not a revision", path=str(self.root))
        status, stdout, stderr = self._status("rev-parse", "--verify", "--end-of-options", f"{rev}^{{commit}}")
        if status == 0 and stdout.strip():
            sha = stdout.strip()
            self._resolved[rev] = sha
            return sha
        if "ambiguous" in stderr:
            raise InputError(f"short SHA {rev!r} is ambiguous in this repository: give more hex digits",
                             path=str(self.root))
        message = f"unknown revision {rev!r}: no such commit in this repository"
        if self.is_shallow():
            message += f"; {SHALLOW_HINT}"
        elif _HEX.match(rev):
            message += " (was it pushed and fetched? try git fetch)"
        raise InputError(message, path=str(self.root))

    def resolve_recorded(self, sha: str) -> str:
        """A SHA a run record claims: only hex digits are looked up. `HEAD`, `master`, `main~1` name whatever
        that is today, not the commit the run used: resolving them would read today's code and hide RA202."""
        text = str(sha).strip()
        if not RECORDED_SHA.fullmatch(text):
            raise InputError(f"{text[:60]!r} is not a commit SHA (hex digits); a revision name such as HEAD or a "
                             "branch is not resolved, it names a different commit every day", path=str(self.root))
        return self.resolve(text)

    def has_commit(self, sha: str) -> bool:
        """Whether the repository has the commit a run record names (hex SHAs only, see resolve_recorded)."""
        try:
            self.resolve_recorded(sha)
            return True
        except InputError:
            return False

    def merge_base(self, a: str, b: str) -> str:
        sha_a, sha_b = self.resolve(a), self.resolve(b)
        status, stdout, _ = self._status("merge-base", sha_a, sha_b)
        if status == 0 and stdout.strip():
            return stdout.strip().splitlines()[0]
        message = f"{sha_a[:10]} and {sha_b[:10]} have no common history"
        if self.is_shallow():
            message += f"; {SHALLOW_HINT}"
        raise InputError(message, path=str(self.root))

    def is_ancestor(self, a: str, b: str) -> bool:
        status, _, _ = self._status("merge-base", "--is-ancestor", self.resolve(a), self.resolve(b))
        return status == 0

    def range_note(self, a: str, b: str) -> str | None:
        """What `commits_between(a, b)` means when `a` is not an ancestor of `b`; None when it is."""
        sha_a, sha_b = self.resolve(a), self.resolve(b)
        if sha_a == sha_b or self.is_ancestor(sha_a, sha_b):
            return None
        if self.is_ancestor(sha_b, sha_a):
            return (f"{sha_a[:10]} is newer than {sha_b[:10]}: no commits lead from the first to the second "
                    f"(swap the runs to list the commits between them)")
        base = self.merge_base(sha_a, sha_b)
        return (f"{sha_a[:10]} is not an ancestor of {sha_b[:10]}: listing the commits since their "
                f"merge-base {base[:10]}")

    # -- history ----------------------------------------------------------------------------

    def commits_between(self, a: str, b: str) -> list[Commit]:
        """Commits in a..b, oldest first. When a is not an ancestor of b, that is merge-base(a, b)..b."""
        sha_a, sha_b = self.resolve(a), self.resolve(b)
        if sha_a == sha_b:
            return []
        start = sha_a if self.is_ancestor(sha_a, sha_b) else self.merge_base(sha_a, sha_b)
        out = self._run("log", "--reverse", "--no-color", "-z", "--format=%H%x1f%h%x1f%an%x1f%aI%x1f%s",
                        f"{start}..{sha_b}", "--", what="listing commits")
        commits = []
        for record in out.split("\0"):
            record = record.strip("\n")
            if not record:
                continue
            sha, short, author, date, summary = (record.split("\x1f") + [""] * 5)[:5]
            commits.append(Commit(sha=sha, short=short, summary=summary, author=author, date=date))
        return commits

    def changed_files(self, a: str, b: str) -> list[FileChange]:
        """Files that differ between the trees of a and b, with added/removed line counts, sorted by path."""
        sha_a, sha_b = self.resolve(a), self.resolve(b)
        if sha_a == sha_b:
            return []
        statuses = _parse_name_status(self._run("diff", "--no-color", "--no-ext-diff", "-M", "--name-status", "-z",
                                                sha_a, sha_b, "--", what="diffing trees"))
        counts = _parse_numstat(self._run("diff", "--no-color", "--no-ext-diff", "-M", "--numstat", "-z",
                                          sha_a, sha_b, "--", what="diffing trees"))
        changes = []
        for path, (status, old_path) in statuses.items():
            added, removed = counts.get(path, (0, 0))
            changes.append(FileChange(path=path, status=status, added=added, removed=removed, old_path=old_path))
        return sorted(changes, key=lambda c: c.path)

    # -- trees ------------------------------------------------------------------------------

    def python_files_at(self, sha: str) -> list[tuple[str, str, bytes]]:
        """(path, blob sha, data) of every Python file in the tree at `sha` (discover.treated_as_python: *.py and
        executable scripts with a Python shebang), read from git objects.

        Nothing is checked out. Blobs over MAX_SOURCE_BYTES and blobs with NUL bytes are skipped.
        """
        from auditor.code.discover import treated_as_python

        listing = self._blob_listing(self.resolve(sha))
        files = []
        for path, (blob_sha, size, executable) in listing.items():
            if size > MAX_SOURCE_BYTES or not treated_as_python(path.rpartition("/")[2], partial(bool, executable),
                                                                partial(self._blob_data, blob_sha)):
                continue
            data = self._blob_data(blob_sha)
            if b"\0" in data:
                continue
            files.append((path, blob_sha, data))
        return files

    def blob_shas_at(self, sha: str) -> dict[str, str]:
        """path -> blob sha of every file in the tree at `sha` (cheap: one ls-tree)."""
        return {path: blob for path, (blob, *_) in self._blob_listing(self.resolve(sha)).items()}

    def executables(self, sha: str | None = None) -> frozenset[str]:
        """The paths of the tree at `sha` (None: the index) whose mode is executable (100755)."""
        if sha is None:
            self.index_blobs()
            return self._index_executables
        return frozenset(path for path, (_, _, executable) in self._blob_listing(self.resolve(sha)).items()
                         if executable)

    def read_file(self, sha: str, path: str) -> bytes | None:
        """A file's content at `sha`, or None when the tree has no such file."""
        blob = self._blob_listing(self.resolve(sha)).get(_norm(path))
        return self._blob_data(blob[0]) if blob else None

    def export_tree(self, sha: str, dest: Path) -> None:
        """Write the files of the tree at `sha` under `dest` (a new folder), for code that must run as it was
        at that commit. `git archive`: nothing is checked out and the repository is not written. Symlinks
        that point outside `dest` are left out (a committed `utils.py -> ~/.netrc` is not followed)."""
        full = self.resolve(sha)
        dest = Path(dest)
        dest.mkdir(parents=True)
        archive = dest.with_name(dest.name + ".tar")
        try:
            self._run("archive", "--format=tar", f"--output={archive}", full, "--",
                      what=f"exporting the code at {full[:10]}")
            _extract_inside(archive, dest)
        finally:
            archive.unlink(missing_ok=True)

    def _blob_listing(self, full_sha: str) -> dict[str, tuple[str, int, bool]]:
        return _listing(self, full_sha)

    def _blob_data(self, blob_sha: str) -> bytes:
        return _blob(self, blob_sha)

    def index_blobs(self) -> dict[str, str]:
        """path -> blob sha of every regular file staged in the index (what the next commit holds); read once
        (the configuration, the scan and the report's excerpts all ask)."""
        if self._index is None:
            self._index, self._index_executables = self._read_index()
        return dict(self._index)

    def _read_index(self) -> tuple[dict[str, str], frozenset[str]]:
        out = self._run("ls-files", "--stage", "-z", what="reading the index")
        staged, executables = {}, set()
        for entry in out.split("\0"):
            meta, _, path = entry.partition("\t")
            parts = meta.split()
            if len(parts) == 3 and parts[2] == "0" and parts[0] in ("100644", "100755"):
                staged[path] = parts[1]
                if parts[0] == "100755":
                    executables.add(path)
        return staged, frozenset(executables)

    def blob(self, blob_sha: str) -> bytes:
        """A blob's bytes, by its id."""
        return _blob(self, blob_sha)

    def remotes(self) -> list[str]:
        return self._run("remote", what="listing remotes").split()

    def merge_heads(self) -> list[str]:
        """The commits a merge in progress brings in: git's GITHEAD_<sha> variables while `git merge` runs the
        pre-merge-commit hook, or .git/MERGE_HEAD when a merge stopped (a conflict, --no-commit) is committed."""
        heads = [key[len("GITHEAD_"):] for key in os.environ if re.fullmatch(r"GITHEAD_[0-9a-f]{40,64}", key)]
        try:
            heads += (self.git_dir / "MERGE_HEAD").read_text().split()
        except OSError:
            pass
        return sorted(set(heads))

    def mainline_tips(self, remote: str | None = None, *, local: bool = True) -> list[str]:
        """The tips of the shared main line: what the remote's HEAD points at (else its main or master; every
        remote's when `remote` is None or unknown), and (`local`) the local main or master. Code there has been
        accepted; a merge that brings it in introduces none."""
        names, remotes = [], self.remotes()
        for name in [remote] if remote in remotes else remotes:
            status, target, _ = self._status("symbolic-ref", "--quiet", f"refs/remotes/{name}/HEAD")
            names += [target.strip()] if status == 0 and target.strip() else [
                f"refs/remotes/{name}/main", f"refs/remotes/{name}/master"]
        names += ["refs/heads/main", "refs/heads/master"] if local else []
        tips = []
        for name in names:
            status, sha, _ = self._status("rev-parse", "--verify", "--quiet", name + "^{commit}")
            if status == 0 and sha.strip() and sha.strip() not in tips:
                tips.append(sha.strip())
        return tips

    def unpublished_base(self, sha: str, remote: str | None = None, also_there: tuple[str, ...] = ()) -> str | None | bool:
        """What a push of `sha` to `remote` adds to what that remote has: the first commit on `sha`'s first-parent
        line that a remote-tracking branch of `remote` (or `also_there`, e.g. the remote's old tip) holds. A
        rebase onto the remote's main is based on that main (its findings are known); a merge is judged against
        its first parent, as the pre-merge-commit hook judged it. None when the line reaches a root first (the
        whole history is new); False when `sha` itself is there (nothing new). An unknown remote (a URL), or
        none given: every remote-tracking branch counts."""
        refs = f"--remotes={remote}" if remote and remote in self.remotes() else "--remotes"
        there = [self.resolve(s) for s in also_there]
        out = self._run("rev-list", "--first-parent", self.resolve(sha), "--not", refs, *there,
                        what="listing unpushed commits")
        unpushed = out.split()
        if not unpushed:
            return False
        status, parent, _ = self._status("rev-parse", "--verify", "--quiet", f"{unpushed[-1]}^1")
        return parent.strip() if status == 0 and parent.strip() else None

    # -- working tree -----------------------------------------------------------------------

    def changed_lines_since(self, base: str) -> dict[str, set[int] | None]:
        """Lines of the working tree (staged + unstaged) added or changed since merge-base(base, HEAD).

        path -> set of 1-based line numbers in the current file; None means the whole file
        (untracked .py files). Deleted files are left out; a pure deletion gives an empty set.
        """
        if self.bare:
            raise InputError("a bare repository has no working tree to diff", path=str(self.root))
        start = self.merge_base(base, self.head_sha())
        with self._private_index() as env:
            text = self._run("diff", "-U0", "--no-color", "--no-ext-diff", "-M", start, "--",
                             what="diffing the working tree", env=env)
            untracked = self._run("ls-files", "--others", "--exclude-standard", "-z",
                                  what="listing untracked files", env=env)
        changed = _parse_unified_zero(text)
        for path in untracked.split("\0"):
            if path.endswith(".py"):
                changed[path] = None
        return dict(sorted(changed.items()))


    @contextlib.contextmanager
    def _private_index(self):
        """The environment of a git command that must not touch the index: `git diff` against the working tree
        refreshes and rewrites the index (GIT_OPTIONAL_LOCKS does not stop it in every git version), so it gets
        a private copy of the index instead."""
        with tempfile.TemporaryDirectory(prefix="auditor-index-") as scratch:
            index = Path(os.environ.get("GIT_INDEX_FILE") or self.git_dir / "index")
            index = index if index.is_absolute() else self.root / index
            private = Path(scratch) / "index"
            if index.exists():
                shutil.copyfile(index, private)
            yield {"GIT_INDEX_FILE": str(private)}

    def _intend_to_add_python(self, env: dict[str, str]) -> None:
        """Untracked Python files as intended to add, in a private index (`env`): a file moved but not yet added
        pairs with its old path too. *.py by a pathspec; scripts without a suffix (few) one by one."""
        from auditor.code.discover import python_file

        _git(self.root, ["add", "--intent-to-add", "--", "*.py"], self.root, env)  # none to add: no matter
        untracked = self._run("ls-files", "--others", "--exclude-standard", "-z", what="listing untracked files",
                              env=env).split("\0")
        scripts = [p for p in untracked if p and not p.endswith(".py") and python_file(str(self.root / p))]
        if scripts:
            _git(self.root, ["add", "--intent-to-add", "--", *scripts], self.root, env)

    def renames(self, base: str, head: str | None = None, *, staged: bool = False) -> dict[str, str]:
        """old path -> new path of the files git's rename detection (-M: a move, or a rename with edits that
        keep most of the file) pairs between the tree at `base` and the commit `head`, the index (`staged`),
        or else the working tree (untracked files included)."""
        args = ["diff", "--no-color", "--no-ext-diff", "-M", "--name-status", "-z", self.resolve(base)]
        if head is not None:
            out = self._run(*args, self.resolve(head), "--", what="finding renames")
        elif staged:
            out = self._run(*args[:1], "--cached", *args[1:], "--", what="finding renames")
        else:
            with self._private_index() as env:
                self._intend_to_add_python(env)
                out = self._run(*args, "--", what="finding renames", env=env)
        return {old: new for new, (kind, old) in _parse_name_status(out).items() if kind == "R" and old}


# Tree listings and blob data are content-addressed, so they are cached for the process' life
# (keyed by the repository's git dir and the object id).

_LISTINGS: dict[tuple[str, str], dict[str, tuple[str, int, bool]]] = {}


def _listing(repo: Repo, full_sha: str) -> dict[str, tuple[str, int, bool]]:
    """path -> (blob sha, size, executable) of every file in the tree at `full_sha`."""
    key = (str(repo.git_dir), full_sha)
    if key not in _LISTINGS:
        out = repo._run("ls-tree", "-r", "-l", "-z", "--full-tree", full_sha, what=f"reading the tree at {full_sha[:10]}")
        listing = {}
        for entry in out.split("\0"):
            if not entry:
                continue
            meta, _, path = entry.partition("\t")
            parts = meta.split()
            if len(parts) != 4 or parts[1] != "blob":
                continue  # submodules (commit) and anything odd
            size = int(parts[3]) if parts[3].isdigit() else 0
            listing[path] = (parts[2], size, parts[0] == "100755")
        if len(_LISTINGS) > 256:
            _LISTINGS.clear()
        _LISTINGS[key] = listing
    return _LISTINGS[key]


def _blob(repo: Repo, blob_sha: str) -> bytes:
    data = repo._blobs.get(blob_sha)
    if data is None:
        data = repo._objects.read(blob_sha)
        repo._blobs[blob_sha] = data
    return data


def _extract_inside(archive: Path, dest: Path) -> None:
    """Unpack a tar written by `git archive`; members that would land or point outside `dest` are skipped."""
    with tarfile.open(archive) as tar:
        for member in tar:
            try:
                tar.extract(member, dest, filter="data")
            except tarfile.FilterError:
                continue


def _norm(path: str) -> str:
    path = str(path).replace("\\", "/")
    return path.removeprefix("./")


def _git(cwd: Path, args: list[str], where: Path, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """(exit status, stdout, stderr) of one git command; a missing git binary is the user's input error."""
    try:
        proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, env={**os.environ, **GIT_ENV, **(env or {})})
    except FileNotFoundError:
        raise InputError("the git executable was not found on PATH", path=str(where)) from None
    decode = lambda data: data.decode("utf-8", "surrogateescape")  # noqa: E731 - paths keep their bytes
    return proc.returncode, decode(proc.stdout), decode(proc.stderr)


class _ObjectReader:
    """Blobs by id through one `git cat-file --batch` for the repository's life (a cold scan reads thousands;
    a process each would cost more than the scan). Started on the first read; a forked child starts its own."""

    def __init__(self, root: Path):
        self.root = root
        self._proc: subprocess.Popen | None = None
        self._pid = 0
        self._lock = threading.Lock()
        self._finalizer = None

    def read(self, sha: str) -> bytes:
        if not re.fullmatch(r"[0-9a-fA-F]{4,64}", sha or ""):
            raise InputError(f"cannot read git object {sha!r}: not an object id", path=str(self.root))
        with self._lock:
            proc = self._process()
            proc.stdin.write(sha.encode("ascii") + b"\n")
            proc.stdin.flush()
            header = proc.stdout.readline().split()
            if len(header) != 3 or header[1] != b"blob":
                what = b" ".join(header[1:]).decode("ascii", "replace") or "git cat-file ended"
                raise InputError(f"cannot read git object {sha}: {what}", path=str(self.root))
            data = proc.stdout.read(int(header[2]))
            proc.stdout.read(1)  # the newline after the content
            return data

    def _process(self) -> subprocess.Popen:
        if self._proc is None or self._pid != os.getpid() or self._proc.poll() is not None:
            try:
                self._proc = subprocess.Popen(["git", "cat-file", "--batch"], cwd=self.root, stdin=subprocess.PIPE,
                                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                              env={**os.environ, **GIT_ENV})
            except FileNotFoundError:
                raise InputError("the git executable was not found on PATH", path=str(self.root)) from None
            self._pid = os.getpid()
            self._finalizer = weakref.finalize(self, _stop, self._proc)
        return self._proc

    def close(self) -> None:
        if self._finalizer is not None and self._pid == os.getpid():
            self._finalizer()
        self._proc = None


def _stop(proc: subprocess.Popen) -> None:
    try:
        proc.stdin.close()
        proc.wait(timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        proc.kill()
    finally:
        if proc.stdout:
            proc.stdout.close()


def _unquote(path: str) -> str:
    """git quotes paths with unusual characters as C strings even with core.quotePath=false."""
    if len(path) >= 2 and path[0] == '"' and path[-1] == '"':
        raw = path[1:-1].encode("latin-1", "backslashreplace").decode("unicode_escape")
        return raw.encode("latin-1", "ignore").decode("utf-8", "replace")
    return path


def _parse_name_status(text: str) -> dict[str, tuple[str, str | None]]:
    fields = text.split("\0")
    out: dict[str, tuple[str, str | None]] = {}
    i = 0
    while i < len(fields) and fields[i]:
        code = fields[i].strip()
        kind = code[:1]
        if kind in ("R", "C"):
            old, new = fields[i + 1], fields[i + 2]
            out[new] = (kind, old)
            i += 3
        else:
            out[fields[i + 1]] = (kind, None)
            i += 2
    return out


def _parse_numstat(text: str) -> dict[str, tuple[int, int]]:
    fields = text.split("\0")
    out: dict[str, tuple[int, int]] = {}
    i = 0
    while i < len(fields):
        entry = fields[i].lstrip("\n")
        if not entry:
            i += 1
            continue
        added, removed, path = (entry.split("\t", 2) + ["", ""])[:3]
        if path == "":  # rename/copy: "added\tremoved\t" then old path, new path
            path = fields[i + 2]
            i += 3
        else:
            i += 1
        out[path] = (int(added) if added.isdigit() else 0, int(removed) if removed.isdigit() else 0)
    return out


def _parse_unified_zero(text: str) -> dict[str, set[int] | None]:
    changed: dict[str, set[int] | None] = {}
    current: str | None = None
    for line in text.splitlines():
        if line.startswith("+++ "):
            target = _unquote(line[4:].rstrip("\t"))
            current = None if target == "/dev/null" else target.removeprefix("b/")
            if current is not None:
                changed.setdefault(current, set())
        elif line.startswith(("rename to ", "copy to ")):
            changed.setdefault(_unquote(line.split(" to ", 1)[1]), set())
        elif line.startswith("@@") and current is not None:
            match = _HUNK.match(line)
            if match:
                start, count = int(match.group(1)), int(match.group(2) or 1)
                lines = changed[current]
                if lines is not None:
                    lines.update(range(start, start + count))
    return changed


def scan_at_sha(repo: Repo, sha: str, config: Config, paths: set[str] | None = None) -> list[Finding]:
    """The scanner's findings on the code as it was at `sha` (nothing checked out).

    `paths` restricts the scan to those files (e.g. a run's training path). The scanner caches
    findings per blob hash, so scanning many SHAs costs one parse per distinct file content.
    """
    from auditor.code.discover import SKIP_DIRS  # the scanner is heavy: only when asked
    from auditor.code.scan import scan_files
    from auditor.code.sources import SourceFile

    def wanted(path: str) -> bool:
        if paths is not None:
            return path in paths
        folders = path.split("/")[:-1]  # the folders a working-tree scan skips are skipped here too
        return not any(p in SKIP_DIRS or p.endswith(".egg-info") for p in folders) and not config.is_excluded(path)

    from auditor.gate import snapshot_facts  # the packaging facts of `sha`, not of the working tree

    files = [SourceFile(path, data, blob=blob) for path, blob, data in repo.python_files_at(sha) if wanted(path)]
    return scan_files(files, config, facts=snapshot_facts(repo, sha, config)).findings
