"""Which files a scan looks at: Python files under the given paths, minus vendored and built trees.

Paths are reported relative to the scan root with "/" separators, so reports do not depend on where
the checkout lives. A path that cannot be read (a symlink loop, a vanished file) is still returned:
the scanner reports it as RA001 instead of dropping it silently.
"""

from __future__ import annotations

import os
from functools import partial
from pathlib import Path
from typing import Callable, NamedTuple

from auditor.code.facts import PYTHON_PACKAGING_FILES, is_packaging_file

UNLISTABLE = "cannot list folder"  # the reason given for a folder whose files could not be looked at
# Folders that never hold the project's own code.
SKIP_DIRS = frozenset({
    ".git", ".hg", ".svn", ".venv", "venv", ".env", "env", "site-packages", "dist-packages", "__pycache__",
    "build", "dist", ".tox", ".nox", ".mypy_cache", ".pytest_cache", ".ruff_cache", "node_modules",
    ".eggs", ".ipynb_checkpoints", "wandb", "mlruns",
})


def treated_as_python(name: str, executable: Callable[[], bool], head: Callable[[], bytes]) -> bool:
    """The one rule for which files of a tree a scan treats as Python: a folder's walk, and the index or a
    commit read from git (the hooks, --rev, --diff's base) alike. `*.py`; and a script without a suffix
    (`bin/evaluate`) that is executable and whose first line is a Python shebang. `executable` and `head`
    (the file's first bytes) are asked only for a name without a suffix."""
    if name.endswith(".py"):
        return True
    return "." not in name and executable() and python_shebang(head())


def python_file(path: str) -> bool:
    """treated_as_python for a file on disk."""
    return treated_as_python(os.path.basename(path), partial(os.access, path, os.X_OK), partial(_head, path))


def python_shebang(data: bytes) -> bool:
    first = data.split(b"\n", 1)[0]
    return first.startswith(b"#!") and b"python" in first


class Candidate(NamedTuple):  # a tuple: thousands are made on every scan, cached or not
    path: str  # as reported
    full: str | Path  # where to read it
    explicit: bool  # named on the command line (a non-.py file named explicitly is checked, not skipped)
    refused: str | None = None  # why it is not read (a folder that cannot be listed, a link out of the tree)


def display_path(full: Path, root: Path) -> str:
    try:
        rel = os.path.relpath(full, root)
    except ValueError:  # another drive on Windows
        rel = str(full)
    if rel.startswith(".."):
        rel = str(full)
    return rel.replace(os.sep, "/")


def discover(paths: list[Path], root: Path, config, packaging: list[tuple[str, str]] | None = None) -> list[Candidate]:
    """The files to scan, sorted by reported path, each once. With `packaging`, a walk of the root itself
    also collects there its packaging files (facts.is_packaging_file), so that the project's facts need no
    walk of their own."""
    found: dict[str, Candidate] = {}
    for given in paths:
        given = Path(given)
        full = given if given.is_absolute() else Path.cwd() / given
        if full.is_dir():
            # a folder named on the command line is taken where it really is (the root is resolved too), so that
            # reached through a symlinked parent its files still get paths relative to the root; links met while
            # walking inside it are judged by _walk
            top = Path(os.path.realpath(full))
            collect = packaging if packaging is not None and str(top) == os.path.realpath(root) else None
            for cand in _walk(top, root, config, collect):
                found.setdefault(cand.path, cand)
        else:  # a file, a broken symlink or a missing path: the scanner says what is wrong with it
            shown = display_path(full, root)
            found.setdefault(shown, Candidate(shown, full, True, _link_out(str(full), (root,))))
    return [found[p] for p in sorted(found)]


def _link_out(path: str, roots: tuple) -> str | None:
    """Why a file symlinked from outside the scanned tree is not read (a link to ~/.netrc must not reach a report)."""
    if not os.path.islink(path):
        return None
    real = os.path.realpath(path)
    for base in map(os.path.realpath, roots):
        if real == base or real.startswith(base.rstrip(os.sep) + os.sep):
            return None
    return "a symlink to a file outside the scanned folder: not read"


def _walk(top: Path, root: Path, config, packaging: list[tuple[str, str]] | None = None) -> list[Candidate]:
    # Plain strings, one scandir per folder and reported paths built by appending names: this walk runs
    # on every scan, cached or not. Like os.walk(followlinks=False): a symlinked folder is not entered.
    out: list[Candidate] = []
    excluded = config.is_excluded if config.exclude else None
    shown_top = display_path(top, root)
    start = str(top)
    todo = [(start, "" if shown_top == "." else shown_top + "/")]
    while todo:
        folder, prefix = todo.pop()
        try:
            with os.scandir(folder) as it:
                entries = list(it)
        except OSError as exc:  # never a silent pass: the folder's files were not looked at
            shown = prefix.rstrip("/") or "."
            out.append(Candidate(shown, folder, False, f"{UNLISTABLE}: {exc.strerror or type(exc).__name__}; "
                                                       "its files were not scanned"))
            continue
        if folder is not start and any(entry.name == "pyvenv.cfg" for entry in entries):
            continue  # a virtual environment below the scanned folder (told from its listing: no stat per folder)
        for entry in entries:
            name = entry.name
            try:  # both answered from the listing: no stat for the (nearly all) plain files
                is_dir, linked = entry.is_dir(), entry.is_symlink()
            except OSError:
                is_dir, linked = False, True  # _link_out looks again
            if is_dir:
                if name in SKIP_DIRS or name.endswith(".egg-info") or linked or (excluded and excluded(prefix + name)):
                    continue
                todo.append((entry.path, prefix + name + "/"))
            elif treated_as_python(name, partial(_executable, entry), partial(_head, entry.path)) and not (
                    excluded and excluded(prefix + name)):
                refused = _link_out(entry.path, (top, root)) if linked else None
                out.append(Candidate(prefix + name, entry.path, False, refused))
                if packaging is not None and not linked and name in PYTHON_PACKAGING_FILES:
                    packaging.append((prefix + name, entry.path))
            elif packaging is not None and not linked and is_packaging_file(name) and entry.is_file():
                packaging.append((prefix + name, entry.path))
    return out


def _executable(entry: os.DirEntry) -> bool:
    try:
        return entry.is_file() and bool(entry.stat().st_mode & 0o111)
    except OSError:
        return False


def _head(path: str) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read(256)
    except OSError:
        return b""
