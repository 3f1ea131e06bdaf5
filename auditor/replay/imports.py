"""Importing the project's own `module:function` names with its repo on the import path."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Callable


class ImportFailure(Exception):
    """A `module:function` name that cannot be imported or is not callable."""


def _inside(path: str | None, root: Path) -> bool:
    if not path:
        return False
    try:
        Path(path).resolve().relative_to(root)
        return True
    except ValueError:
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
    module_name, sep, attr = str(target).partition(":")
    if not sep or not module_name or not attr:
        raise ImportFailure(f"{what} {target!r} must be written as 'module:function'")
    root = Path(repo).resolve()
    if str(root) in sys.path:
        sys.path.remove(str(root))
    sys.path.insert(0, str(root))  # first: the project's module wins over same-named others
    _forget_foreign(module_name, root)
    importlib.invalidate_caches()
    try:
        value = importlib.import_module(module_name)
    except (Exception, SystemExit) as exc:  # the project's code (argparse at import exits): a reason, not a crash
        raise ImportFailure(f"cannot import {module_name!r} for {what} {target!r} (repo {root}): "
                            f"{type(exc).__name__}: {exc}") from exc
    for part in attr.split("."):
        if not hasattr(value, part):
            raise ImportFailure(f"{module_name!r} has no attribute {attr!r} ({what} {target!r})")
        value = getattr(value, part)
    if not callable(value):
        raise ImportFailure(f"{what} {target!r} is not callable")
    return value
