"""Importing the project's own `module:function` names with its repo on the import path.

The trust boundary: a run record is written by whoever can write the results directory, so the names it
gives may only point at functions and classes *defined in the repository* at the run's commit (the
replay imports from that commit's exported tree, auditor.replay.code_at_sha), or in a package the
project's configuration allows, `[tool.auditor.replay] allow`. The standard library, other installed
packages and the auditor itself are refused before anything is imported; after the import, the object is
checked again (a module of the repository that does `from os import abort` does not make `os.abort` the
project's).
"""

from __future__ import annotations

import importlib
import inspect
import sys
from pathlib import Path
from typing import Callable, Iterable

# Folders inside a repository that hold other people's code (a virtualenv, vendored site-packages).
FOREIGN_PARTS = {"site-packages", "dist-packages", "node_modules", "__pycache__"}

_ALLOWED_PACKAGES: set[str] = set()
_SOURCE_LABEL: dict[str, str] = {}  # the import root of the current replay -> how messages name it


def label_source(root: str | Path, label: str) -> None:
    """Name the folder the replay imports from in messages ("the repository at 1a2b3c4d5e6f"): it is a
    temporary export of the run's commit, whose path tells a reader nothing."""
    _SOURCE_LABEL.clear()
    _SOURCE_LABEL[str(Path(root).resolve())] = label


def _where(root: Path) -> str:
    return _SOURCE_LABEL.get(str(root), f"the repository {root}")


class ImportFailure(Exception):
    """A `module:function` name that cannot be imported, is not callable, or is outside the boundary."""


def allow_packages(names: Iterable[str]) -> None:
    """The installed packages (top-level names) whose callables a record may also name, from the configuration."""
    _ALLOWED_PACKAGES.clear()
    _ALLOWED_PACKAGES.update(str(n).split(".")[0] for n in names or ())


def _inside(path: str | None, root: Path) -> bool:
    if not path:
        return False
    try:
        Path(path).resolve().relative_to(root)
        return True
    except (ValueError, OSError):
        return False


def _project_file(path: str | None, root: Path) -> bool:
    """A file of the repository itself: inside it, and not in a hidden folder or a vendored environment."""
    if not _inside(path, root):
        return False
    parts = Path(path).resolve().relative_to(root).parts
    return not any(p.startswith(".") or p in FOREIGN_PARTS for p in parts[:-1])


def _is_standard_library(top: str) -> bool:
    return top in sys.stdlib_module_names or top in sys.builtin_module_names


def _module_file(module_name: str, root: Path) -> Path | None:
    """Where `pkg.mod` lives in the repository (pkg/mod.py or pkg/mod/__init__.py), found without importing."""
    base = root.joinpath(*module_name.split("."))
    for candidate in (base.with_name(base.name + ".py"), base / "__init__.py"):
        if candidate.is_file() and _project_file(str(candidate), root):
            return candidate
    return None


def check_target(target: str, repo: str | Path, what: str = "function") -> tuple[str, str]:
    """(module, attribute path) of a record's `module:function`, or ImportFailure when it is outside the boundary."""
    module_name, sep, attr = str(target).partition(":")
    if not sep or not module_name or not attr:
        raise ImportFailure(f"{what} {target!r} must be written as 'module:function'")
    if not all(p.isidentifier() for p in module_name.split(".")) or \
            not all(p.isidentifier() and not p.startswith("__") for p in attr.split(".")):
        raise ImportFailure(f"{what} {target!r} is not a 'module:function' name")
    top = module_name.split(".")[0]
    if top == "auditor":
        raise ImportFailure(f"{what} {target!r} names the auditor's own code, which a run record may not call")
    if _is_standard_library(top):
        raise ImportFailure(f"{what} {target!r} names the standard library ({top}); a run record may only name "
                            "functions defined in the repository")
    if top in _ALLOWED_PACKAGES:
        return module_name, attr
    if _module_file(module_name, Path(repo).resolve()) is None:
        raise ImportFailure(f"{what} {target!r}: no module {module_name!r} in {_where(Path(repo).resolve())} "
                            "(a run record may only name functions defined there, or in a package listed in "
                            "[tool.auditor.replay] allow)")
    return module_name, attr


def _defined_in_boundary(value, root: Path) -> bool:
    """A function or class whose code is the repository's (or an allowed package's)."""
    candidates = [value]
    try:
        candidates.append(inspect.unwrap(value))  # a decorated function (functools.wraps) is its inner one's
    except ValueError:
        pass
    for item in candidates:
        if inspect.ismethod(item):
            item = item.__func__
        if inspect.isfunction(item):
            filename, module = item.__code__.co_filename, getattr(item, "__module__", None) or ""
        elif inspect.isclass(item):
            module = item.__module__
            filename = getattr(sys.modules.get(module), "__file__", None)
        else:
            continue
        top = module.split(".")[0]
        if _project_file(filename, root) or (top in _ALLOWED_PACKAGES and not _is_standard_library(top)):
            return True
    return False


def _forget_foreign(module_name: str, root: Path) -> None:
    """Drop cached modules of the same top-level name that come from somewhere else (another repo)."""
    top = module_name.split(".")[0]
    for name in [n for n in sys.modules if n == top or n.startswith(top + ".")]:
        module = sys.modules[name]
        origin = getattr(module, "__file__", None)
        if origin and not _inside(origin, root) and not _inside(origin, Path(sys.prefix).resolve()):
            del sys.modules[name]


def load_callable(target: str, repo: str | Path, what: str = "function") -> Callable:
    """`pkg.module:function` (or `pkg.module:Class.method`) imported with `repo` first on sys.path."""
    module_name, attr = check_target(target, repo, what)
    root = Path(repo).resolve()
    if str(root) in sys.path:
        sys.path.remove(str(root))
    sys.path.insert(0, str(root))  # first: the project's module wins over same-named others
    _forget_foreign(module_name, root)
    importlib.invalidate_caches()
    try:
        value = importlib.import_module(module_name)
    except (Exception, SystemExit) as exc:  # the project's code (argparse at import exits): a reason, not a crash
        raise ImportFailure(f"cannot import {module_name!r} for {what} {target!r} ({_where(root)}): "
                            f"{type(exc).__name__}: {exc}") from exc
    top = module_name.split(".")[0]
    if top not in _ALLOWED_PACKAGES and not _project_file(getattr(value, "__file__", None), root):
        raise ImportFailure(f"{what} {target!r}: {module_name!r} was imported from {getattr(value, '__file__', '?')}, "
                            f"not from {_where(root)}")
    for part in attr.split("."):
        if not hasattr(value, part):
            raise ImportFailure(f"{what} {target!r}: {module_name!r} has no attribute {attr!r} in {_where(root)}")
        value = getattr(value, part)
    if not callable(value):
        raise ImportFailure(f"{what} {target!r} is not callable")
    if not _defined_in_boundary(value, root):
        raise ImportFailure(f"{what} {target!r} is not a function or class defined in the repository "
                            "(a run record may not make the auditor call anything else)")
    return value
