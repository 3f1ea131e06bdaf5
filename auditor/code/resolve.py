"""The one name resolver: which qualified names an expression in a module may refer to.

Everything that asks "is this `torch.manual_seed`?" asks here: the module rules, the project summaries and
the training-path walk. Built from the module's stdlib `ast` tree:

- `import torch as T` binds T = torch; `import numpy.random` binds numpy; `import a.b as c` binds c = a.b;
- `from torch import manual_seed as s` binds s = torch.manual_seed; relative imports are made absolute
  against the module's own dotted name (`module_name_for`);
- defs and classes at module level bind `<module>.<name>`;
- imports inside `if`/`try` at module level give several candidates (every branch may run);
- scopes: a function's own imports, parameters and assignments shadow the module's names inside it (and in
  the functions nested in it); `global` names stay the module's;
- `from x import *`: a name bound nowhere else may come from x, so it gets no certain name.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from functools import cached_property
from operator import attrgetter

from auditor.code.syntax import parameter_names

_ATTR, _ID = attrgetter("attr"), attrgetter("id")


def module_name_for(path: str) -> tuple[str, bool]:
    """"pkg/train.py" -> ("pkg.train", False); "pkg/__init__.py" -> ("pkg", True); a leading src/ is dropped
    (a `src/` layout imports its packages without it)."""
    parts = path.split("/")
    if len(parts) > 1 and parts[0] == "src":
        parts = parts[1:]
    if not parts or not parts[-1].endswith((".py", ".pyi")):
        return "", False
    stem = parts[-1].rsplit(".", 1)[0]
    if stem == "__init__":
        return ".".join(parts[:-1]), True
    return ".".join([*parts[:-1], stem]), False


def resolve_relative(module_name: str, is_package: bool, level: int, target: str | None) -> str:
    """`from ..a import b` inside pkg.sub.mod -> pkg.a (level counts the dots)."""
    parts = module_name.split(".") if module_name else []
    if not is_package:
        parts = parts[:-1]
    if level > 1:
        parts = parts[: len(parts) - (level - 1)] if level - 1 <= len(parts) else []
    base = ".".join(parts)
    if target:
        return f"{base}.{target}" if base else target
    return base


def dotted(node: ast.AST) -> str | None:
    """`a.b.c` as written (no resolution), or None for anything that is not a plain name chain."""
    if node.__class__ is ast.Name:  # the common case, and exact classes: `ast` nodes are never subclassed
        return node.id
    parts = []
    while node.__class__ is ast.Attribute:
        parts.append(node.attr)
        node = node.value
    if node.__class__ is not ast.Name:
        return None
    parts.append(node.id)
    return ".".join(reversed(parts))


@dataclass
class _Scope:
    """A function's names that hide the module's: local name -> the qualified names it may be (empty: a
    plain local variable, refers to nothing importable)."""
    node: ast.AST
    start: tuple[int, int]
    end: tuple[int, int]
    bound: dict[str, frozenset[str]] = field(default_factory=dict)


class Resolver:
    def __init__(self, tree: ast.Module, module_name: str = "", is_package: bool = False):
        self.module_name = module_name
        self.is_package = is_package
        self.imported_modules: set[str] = set()
        self.imported_names: set[str] = set()  # modules, and every `from m import x` as m.x (x may be a module)
        self.star_modules: list[str] = []
        self._module: dict[str, set[str]] = {}
        self._scopes: list[_Scope] = []
        self._collect_module(tree)

    # -- what the module binds --------------------------------------------------------------------------
    def _collect_module(self, tree: ast.Module) -> None:
        """One walk over the statements (expressions hold no imports and, walrus aside, no bindings)."""
        pending: list[tuple[ast.AST, dict[str, set[str]], set[str]]] = []  # function, its bindings, not-own names
        self._walk(tree.body, None, pending)
        watched = set(self._module)
        for func, bound, not_own in pending:
            kept = {name: frozenset(targets) for name, targets in bound.items()
                    if name not in not_own and (targets or name in watched)}
            if kept:
                end = (getattr(func, "end_lineno", None) or func.lineno, getattr(func, "end_col_offset", None) or 0)
                self._scopes.append(_Scope(func, (func.lineno, func.col_offset), end, kept))
        # innermost first: a nested function's binding wins over its parent's
        self._scopes.sort(key=lambda s: (s.start, (-s.end[0], -s.end[1])), reverse=True)

    def _walk(self, body: list, scope, pending: list) -> None:
        """`scope` is (bindings, not-own names) of the function the statements are in, or None at module level
        (and in a class body at module level, whose names are the class's)."""
        for stmt in body:
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
                self._bind_plain(scope, stmt.name)
                if scope is None and self.module_name:
                    self._module.setdefault(stmt.name, set()).add(f"{self.module_name}.{stmt.name}")
                inner: tuple[dict[str, set[str]], set[str]] = ({name: set() for name in parameter_names(stmt)}, set())
                pending.append((stmt, *inner))
                self._walk(stmt.body, inner, pending)
                continue
            if isinstance(stmt, ast.ClassDef):
                self._bind_plain(scope, stmt.name)
                if scope is None and self.module_name:
                    self._module.setdefault(stmt.name, set()).add(f"{self.module_name}.{stmt.name}")
                self._walk(stmt.body, scope if scope is not None else _CLASS_BODY, pending)
                continue
            if isinstance(stmt, (ast.Import, ast.ImportFrom)):
                for local, target in self._import_bindings(stmt):
                    if scope is None:
                        self._module.setdefault(local, set()).add(target)
                    elif scope is not _CLASS_BODY:
                        scope[0].setdefault(local, set()).add(target)
                continue
            if isinstance(stmt, (ast.Global, ast.Nonlocal)):
                if scope is not None and scope is not _CLASS_BODY:
                    scope[1].update(stmt.names)
                continue
            for target in _targets_of(stmt):
                self._bind_plain(scope, target)
            for name in ("body", "orelse", "finalbody"):
                block = getattr(stmt, name, None)
                if isinstance(block, list):
                    self._walk(block, scope, pending)
            for handler in getattr(stmt, "handlers", ()) or ():
                if handler.name:
                    self._bind_plain(scope, handler.name)
                self._walk(handler.body, scope, pending)
            for case in getattr(stmt, "cases", ()) or ():
                self._walk(case.body, scope, pending)

    @staticmethod
    def _bind_plain(scope, name: str) -> None:
        if scope is not None and scope is not _CLASS_BODY:
            scope[0].setdefault(name, set())

    def _import_bindings(self, node: ast.Import | ast.ImportFrom) -> list[tuple[str, str]]:
        out = []
        if isinstance(node, ast.Import):
            for alias in node.names:
                self.imported_modules.add(alias.name)
                self.imported_names.add(alias.name)
                if alias.asname:
                    out.append((alias.asname, alias.name))
                else:
                    top = alias.name.split(".")[0]
                    out.append((top, top))
            return out
        base = resolve_relative(self.module_name, self.is_package, node.level, node.module) if node.level \
            else (node.module or "")
        if not base:  # `from . import x` at the import root: each x is a module
            for alias in node.names:
                if alias.name != "*":
                    self.imported_names.add(alias.name)
                    out.append((alias.asname or alias.name, alias.name))
            return out
        self.imported_modules.add(base)
        self.imported_names.add(base)
        for alias in node.names:
            if alias.name == "*":
                self.star_modules.append(base)
            else:
                self.imported_names.add(f"{base}.{alias.name}")
                out.append((alias.asname or alias.name, f"{base}.{alias.name}"))
        return out

    # -- lookups --------------------------------------------------------------------------------------
    @cached_property
    def aliases(self) -> dict[str, str]:
        """Module-level name -> its qualified name, where that is certain (one candidate)."""
        return {k: next(iter(v)) for k, v in self._module.items() if len(v) == 1}

    def name_candidates(self, name: str, where: tuple[int, int] | None = None) -> frozenset[str]:
        """What a bare name may refer to at a position. Unknown names (builtins, locals never shadowing an
        import) resolve to themselves; a shadowing local to nothing."""
        return self.lookup(name, where)[0]

    def lookup(self, name: str, where: tuple[int, int] | None = None) -> tuple[frozenset[str], bool]:
        """(name_candidates, whether an import or a module-level def/class binds the name there: not a plain
        local, not a builtin), in one look at the scopes."""
        if where is not None and self._scopes:
            for scope in self._scopes:
                if name in scope.bound and scope.start <= where <= scope.end:
                    found = scope.bound[name]
                    return found, bool(found)
        found = self._module.get(name)
        if found:
            return frozenset(found), True
        if self.star_modules:
            return frozenset(), False
        return frozenset({name}), False

    def dotted_names(self, head: str, rest: str, where: tuple[int, int]) -> tuple[frozenset[str], bool]:
        """qualified_names of the plain chain `head.rest` written at `where` (rest "" for a bare name), and
        whether its head is bound; without walking the nodes again."""
        found, bound = self.lookup(head, where)
        if rest:
            found = frozenset(f"{base}.{rest}" for base in found)
        return found, bound

    def qualified_names(self, node: ast.AST) -> frozenset[str]:
        """Every qualified name an expression may refer to (`T.manual_seed` -> {"torch.manual_seed"}).
        A call in the chain adds "()": `torch.Generator().manual_seed` -> "torch.Generator().manual_seed"."""
        if isinstance(node, ast.Name):
            return self.name_candidates(node.id, (node.lineno, node.col_offset))
        if isinstance(node, ast.Attribute):
            return frozenset(f"{base}.{node.attr}" for base in self.qualified_names(node.value))
        if isinstance(node, ast.Call):
            return frozenset(f"{base}()" for base in self.qualified_names(node.func))
        return frozenset()

    def qualified_name(self, node: ast.AST) -> str | None:
        """The best qualified name: the only one, or the first in sorted order when a conditional import gives
        several (rules that must see each ask `qualified_names`); None when there is none."""
        names = self.qualified_names(node)
        return min(names) if names else None

    def references(self, wanted: frozenset[str] | set[str], names, attributes) -> bool:
        """Does any of these Name / Attribute nodes refer to one of the qualified names (through any alias)?"""
        tails = {w.rsplit(".", 1)[-1] for w in wanted}
        tails.update(local for local, targets in self._module.items() if targets & wanted)
        tails.update(local for scope in self._scopes for local, targets in scope.bound.items() if targets & wanted)
        # most modules have no node with a wanted tail: tell that from the names alone, at C speed
        if tails.isdisjoint(map(_ATTR, attributes)) and tails.isdisjoint(map(_ID, names)):
            return False
        return any(n.attr in tails and self.qualified_names(n) & wanted for n in attributes) or \
            any(n.id in tails and self.qualified_names(n) & wanted for n in names)


_CLASS_BODY = ({}, set())  # a class body at module level: its names are neither the module's nor a function's


def _targets_of(stmt: ast.stmt):
    """The plain names a simple statement binds (assignment, for and with targets)."""
    if isinstance(stmt, ast.Assign):
        targets = stmt.targets
    elif isinstance(stmt, (ast.AugAssign, ast.AnnAssign, ast.For, ast.AsyncFor)):
        targets = [stmt.target]
    elif isinstance(stmt, (ast.With, ast.AsyncWith)):
        targets = [item.optional_vars for item in stmt.items if item.optional_vars is not None]
    else:
        return
    stack = list(targets)
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Name):
            yield node.id
        elif isinstance(node, (ast.Tuple, ast.List)):
            stack.extend(node.elts)
        elif isinstance(node, ast.Starred):
            stack.append(node.value)
