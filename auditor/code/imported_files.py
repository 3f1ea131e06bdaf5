"""The context of a scan of named files outside any project (no configuration file, no repository): the files
they import from their own folder, followed from file to file.

Inside a project, `audit scan train.py` reads the whole project for context (its helpers seed, validate and
quantize for it). Outside one, the folder holding the file may be a home or a temporary folder: its whole
tree is not the program's. What Python itself would import from there is: `import utils` run as
`python train.py` finds `utils.py` beside it.
"""

from __future__ import annotations

import ast
import os
import stat
import warnings
from pathlib import Path

from auditor.code.discover import Candidate, display_path

MAX_FILES = 2000  # a bound on what is followed: a folder of generated modules is not a program's helpers


def in_a_project(config) -> bool:
    """Was the scan root set by a configuration file, or is it inside a repository?"""
    if config.source:
        return True
    root = config.root.resolve()
    return any((folder / ".git").exists() for folder in (root, *root.parents))


def imported_files(named: list[Candidate], root: Path, max_bytes: int) -> list[Candidate]:
    """The .py files under `root` that the named files import, directly or through each other."""
    seen: dict[str, Candidate] = {c.path: c for c in named}
    todo = [c for c in named if not c.refused]
    while todo and len(seen) < MAX_FILES:
        cand = todo.pop()
        for full in _imports_of(Path(cand.full), root, max_bytes):
            shown = display_path(full, root)
            if shown not in seen:
                seen[shown] = Candidate(shown, str(full), False)
                todo.append(seen[shown])
    return [c for path, c in sorted(seen.items()) if c not in named]


def _imports_of(path: Path, root: Path, max_bytes: int) -> list[Path]:
    try:
        st = path.stat()
        if not stat.S_ISREG(st.st_mode) or st.st_size > max_bytes:  # a FIFO would block the read
            return []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tree = ast.parse(path.read_bytes(), str(path))
    except (OSError, SyntaxError, ValueError, RecursionError, MemoryError):
        return []  # the scan itself reports what is wrong with it
    found: list[Path] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                found += _module_files(alias.name.split("."), [path.parent, root], root)
        elif isinstance(node, ast.ImportFrom):
            base = path.parent
            for _ in range(max(node.level - 1, 0)):
                base = base.parent
            parts = node.module.split(".") if node.module else []
            folders = [base] if node.level else [path.parent, root]
            for alias in node.names:  # `from pkg import mod` may name a module
                found += _module_files([*parts, alias.name], folders, root)
            if parts:
                found += _module_files(parts, folders, root)
            elif node.level:
                found += _existing([base / "__init__.py"], root)
    return found


def _module_files(parts: list[str], folders: list[Path], root: Path) -> list[Path]:
    """The files of module `parts` and of the packages holding it, searched in `folders` (as sys.path would);
    none for a name that is not a module of theirs."""
    for folder in dict.fromkeys(folders):
        packages = [folder.joinpath(*parts[:i], "__init__.py") for i in range(1, len(parts))]
        module = folder.joinpath(*parts)
        files = _existing([module.with_name(module.name + ".py"), module / "__init__.py"], root)
        if files:
            return _existing(packages, root) + files
    return []


def _existing(paths: list[Path], root: Path) -> list[Path]:
    root_text = str(root.resolve()) + os.sep
    return [p for p in paths if p.is_file() and str(p.resolve()).startswith(root_text)]
