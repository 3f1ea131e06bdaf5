"""Facts about the project that are not in any one module, read once before a scan.

Today: the oldest torch each part of the project accepts. Since torch 2.6, `torch.load` defaults to
`weights_only=True`, so whether a bare `torch.load(path)` unpickles depends on it. It is read from the
packaging files (`pyproject.toml`, `setup.py`, `setup.cfg`, `requirements*.txt`) and from import-time
checks in a package's `__init__.py` ("requires torch >= 2.11"). A folder with its own packaging files is
its own sub-project: the nearest folder above a file that declares torch decides for that file.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

PACKAGING_FILES = ("pyproject.toml", "setup.py", "setup.cfg")
PYTHON_PACKAGING_FILES = frozenset({"setup.py", "__init__.py"})  # the packaging files a walk of .py files meets
_MAX_DEPTH = 6
_MAX_BYTES = 1_000_000
# `torch>=2.6`, "torch==2.7.0", 'torch~=2.6', `torch >= 2.6.0, <3`; not `torchvision`, not a comment.
_REQUIREMENT = re.compile(r"""(?<![\w.-])torch\s*(?:\[[^\]]*\])?\s*(>=|==|~=|>|===)\s*v?(\d+)\.(\d+)"""
                          r"""|torch\w*\s*>=\s*[\[(]\s*(\d+)\s*,\s*(\d+)""")  # assert torch_ver >= [1, 8]
# torch named as a requirement with no version: a line of its own in requirements.txt, or a quoted "torch".
_BARE_REQUIREMENT = re.compile(r"""^\s*torch\s*(?:\[[^\]]*\])?\s*(?:;.*)?$|["']torch["']""", re.MULTILINE)
# An import-time check: "torch >= 2.11" in a message, or a minimum version parsed next to `torch.__version__`.
_IMPORT_CHECK = re.compile(r"""(?:torch\s*>=\s*|min\w*torch\w*\s*=\s*\w*\(?\s*["'])(\d+)\.(\d+)""", re.IGNORECASE)


@dataclass(frozen=True)
class TorchFloor:
    version: tuple[int, int] | None  # the lowest torch the project accepts; None: torch declared with no floor
    source: str  # the file that says so ("" when nothing declares torch)

    def describe(self) -> str:
        if self.version is None:
            return f"{self.source} declares torch without a lower bound" if self.source else \
                "no packaging file declares a torch version"
        return f"{self.source} requires torch>={self.version[0]}.{self.version[1]}"


NO_FLOOR = TorchFloor(None, "")


@dataclass(frozen=True)
class ProjectFacts:
    # folder ("" for the root, "a/b" relative with "/") -> its floor; only folders that declare torch
    torch_floors: tuple[tuple[str, TorchFloor], ...] = field(default_factory=tuple)

    def torch_floor(self, path: str) -> TorchFloor:
        """The floor that applies to a file (relative path): the nearest folder above it that declares a torch
        version. A folder naming torch without a version (an example's requirements.txt) inherits the floor of
        the project around it; only when nothing above has one is that the answer."""
        folder = path.rpartition("/")[0]
        floors = dict(self.torch_floors)
        unversioned = None
        while True:
            found = floors.get(folder)
            if found is not None:
                if found.version is not None:
                    return found
                unversioned = unversioned or found
            if not folder:
                return unversioned or NO_FLOOR
            folder = folder.rpartition("/")[0]

    def key(self) -> str:
        """What the module results depend on, for the cache key."""
        return ";".join(f"{folder}={floor.version}" for folder, floor in self.torch_floors)


def is_packaging_file(name: str) -> bool:
    """A file that may say which torch the project accepts (an `__init__.py` only near the root counts)."""
    return name in PACKAGING_FILES or name in PYTHON_PACKAGING_FILES or \
        (name.startswith("requirements") and name.endswith(".txt"))


def read_facts(root: Path, skip_dirs: frozenset[str]) -> ProjectFacts:
    """Walk the project (not entering skipped, hidden or symlinked folders) for its packaging files. A scan
    of the whole project gets them from its own walk instead (facts_from)."""
    files: list[tuple[str, str]] = []
    todo = [(str(root), "", 0)]
    while todo:
        folder, rel, depth = todo.pop()
        try:
            with os.scandir(folder) as it:
                entries = list(it)
        except OSError:
            continue
        for entry in entries:
            name = entry.name
            try:
                if entry.is_dir(follow_symlinks=False):
                    if depth < _MAX_DEPTH and name not in skip_dirs and not name.startswith("."):
                        todo.append((entry.path, f"{rel}/{name}" if rel else name, depth + 1))
                    continue
                if not entry.is_file(follow_symlinks=False):
                    continue
            except OSError:
                continue
            if is_packaging_file(name):
                files.append((f"{rel}/{name}" if rel else name, entry.path))
    return facts_from(files)


def packaging_files_in(folder: Path) -> list[tuple[str, str]]:
    """The packaging files of this folder itself (not of its subfolders), as facts_from takes them."""
    try:
        names = sorted(os.listdir(folder))
    except OSError:
        return []
    return [(name, str(folder / name)) for name in names
            if is_packaging_file(name) and name != "__init__.py" and os.path.isfile(folder / name)]


def facts_from(files: list[tuple[str, str]], read: Callable[[str], str | None] | None = None) -> ProjectFacts:
    """The facts declared by these packaging files ((path relative to the root, where to read it), plain files
    only): files in hidden folders or deeper than _MAX_DEPTH folders do not count. `read` gives a file's text
    by its `where` (default: a path on disk; a git snapshot passes its blob reader)."""
    read = read or _read_text
    by_folder: dict[str, list[TorchFloor]] = {}
    for shown, full in sorted(files):
        folder, _, name = shown.rpartition("/")
        parts = folder.split("/") if folder else []
        if len(parts) > _MAX_DEPTH or any(part.startswith(".") for part in parts) or not is_packaging_file(name):
            continue
        if name == "__init__.py":
            floor = _declared_floor(read(full), shown, _IMPORT_CHECK, needs="__version__") if len(parts) <= 2 else None
        else:
            floor = _declared_floor(read(full), shown, _REQUIREMENT)
        if floor is not None:
            by_folder.setdefault(folder, []).append(floor)
    # a package's import check sits one folder below the project root it guards
    floors = {folder: max(found, key=lambda f: (f.version is not None, f.version or (0, 0)))
              for folder, found in by_folder.items()}
    _lift_import_checks(floors)
    return ProjectFacts(tuple(sorted(floors.items())))


def packaging_text(data: bytes) -> str | None:
    """A packaging file's text (None when it is too large to be one)."""
    return None if len(data) > _MAX_BYTES else data.decode("utf-8", errors="replace")


def _read_text(path: str) -> str | None:
    try:
        if os.path.getsize(path) > _MAX_BYTES:
            return None
        with open(path, encoding="utf-8", errors="replace") as fh:
            return fh.read()
    except OSError:
        return None


def _declared_floor(text: str | None, shown: str, pattern: re.Pattern, needs: str = "") -> TorchFloor | None:
    if text is None:
        return None
    if needs and needs not in text:
        return None
    lines = [line.split("#", 1)[0] for line in text.splitlines()]
    text = "\n".join(lines)
    versions = [(int(m.group(m.lastindex - 1)), int(m.group(m.lastindex))) for m in pattern.finditer(text)
                if m.lastindex and m.lastindex >= 2]
    if versions:
        return TorchFloor(max(versions), shown)
    if not needs and _BARE_REQUIREMENT.search(text) and "torch" in text:
        return TorchFloor(None, shown)
    return None


def _lift_import_checks(floors: dict[str, TorchFloor]) -> None:
    """`pkg/__init__.py` refusing an old torch guards every importer of pkg: the check counts for the folder
    holding the package too, unless that folder declares a higher floor itself."""
    for folder, floor in list(floors.items()):
        if not floor.source.endswith("__init__.py") or not folder or floor.version is None:
            continue
        parent = folder.rpartition("/")[0]
        current = floors.get(parent)
        if current is None or current.version is None or current.version < floor.version:
            floors[parent] = floor
