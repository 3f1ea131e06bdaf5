"""The training path: the project files an entry point reaches through its imports.

A cheap `ast` walk (no libcst here): `import a.b`, `from a import b`, `from . import c` and
`from ..x import y` are resolved to files of the same tree, as `pkg/mod.py` or `pkg/__init__.py`.
Importing `a.b.c` also runs `a/__init__.py` and `a/b/__init__.py`, so those are on the path.
Imports inside functions and `try:` blocks count too: they can run, and we would rather show a
file that may be on the path than hide one that is.
"""

from __future__ import annotations

import ast

from auditor.code.resolve import Resolver, module_name_for


def module_index(paths) -> dict[str, str]:
    """Root-relative dotted module name -> path for every .py file (`pkg/__init__.py` is `pkg`)."""
    index: dict[str, str] = {}
    for path in sorted(paths):
        if path.endswith(".py"):
            name, _ = module_name_for(path)
            if name:
                index.setdefault(name, path)
    return index


def _imports(path: str, data: bytes) -> list[str]:
    """Dotted names a module imports, anywhere in it (relative ones made absolute against its own name)."""
    try:
        tree = ast.parse(data, filename=path)
    except (SyntaxError, ValueError):
        return []
    return sorted(Resolver(tree, *module_name_for(path)).imported_names)


def _targets(name: str, index: dict[str, str], roots: list[str]) -> list[str]:
    """Files that importing `name` executes: each package's __init__ on the way, then the module.

    `roots` are the import roots as dotted prefixes: "" (the repo root, or its src/ folder) and the
    entry point's own package (Python puts a script's folder first on sys.path).
    """
    parts = name.split(".")
    for root in roots:
        found = []
        for end in range(1, len(parts) + 1):
            prefix = ".".join(parts[:end])
            path = index.get(f"{root}.{prefix}" if root else prefix)
            if path:
                found.append(path)
        if found:
            return found
    return []


def training_path(files: dict[str, bytes], entry_point: str) -> set[str]:
    """Project files reachable from `entry_point` by imports (the entry point included).

    `files` maps repo-relative paths to their content; an entry point may be given as a path
    (`train.py`, `./scripts/train.py`) or a module name (`pkg.train`). Unknown entry point: empty set.
    """
    index = module_index(files)
    start = _entry_path(entry_point, files, index)
    if start is None:
        return set()
    entry_dir = module_name_for(start)[0].rpartition(".")[0] if not start.endswith("__init__.py") else \
        module_name_for(start)[0]
    roots = list(dict.fromkeys([entry_dir, ""]))
    seen = {start}
    if not entry_point.strip().endswith(".py"):
        # `python -m pkg.mod` imports pkg/__init__.py first
        module = module_name_for(start)[0]
        seen.update(_targets(module, index, [""]))
    todo = sorted(seen)
    while todo:
        path = todo.pop()
        for name in _imports(path, files[path]):
            for target in _targets(name, index, roots):
                if target not in seen:
                    seen.add(target)
                    todo.append(target)
    return seen


def _entry_path(entry_point: str, files: dict[str, bytes], index: dict[str, str]) -> str | None:
    entry = _program(entry_point.strip().replace("\\", "/"))
    while entry.startswith("./"):
        entry = entry[2:]
    entry = entry.split(":")[0] if not entry.endswith(".py") and ":" in entry else entry  # pkg.mod:main
    if entry in files:
        return entry
    if not entry.endswith(".py"):
        candidate = index.get(entry)
        if candidate:
            return candidate
        for suffix in (".py", "/__main__.py", "/__init__.py"):
            if entry.replace(".", "/") + suffix in files:
                return entry.replace(".", "/") + suffix
    return None


def _program(command: str) -> str:
    """`python -m pkg.train --lr 3e-4` -> pkg.train; `python scripts/train.py a=1` -> scripts/train.py."""
    words = command.split()
    if len(words) <= 1:
        return command
    if "-m" in words[:-1]:
        return words[words.index("-m") + 1]
    for word in words:
        if word.endswith(".py"):
            return word
    return command
