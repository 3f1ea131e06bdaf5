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

_FUNCTION_NODES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)
_SCOPE_NODES = (*_FUNCTION_NODES, ast.ClassDef)


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
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
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
        local_imports: list[tuple[ast.AST, ast.stmt]] = []
        for node, owner in _statements_with_owner(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                bindings = self._import_bindings(node)
                if owner is None:
                    for local, target in bindings:
                        self._module.setdefault(local, set()).add(target)
                else:
                    local_imports.append((owner, node))
            elif owner is None and isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                if self.module_name:
                    self._module.setdefault(node.name, set()).add(f"{self.module_name}.{node.name}")
        self._collect_scopes(tree, local_imports)

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

    def _collect_scopes(self, tree: ast.Module, local_imports: list) -> None:
        """Only functions that import or rebind a module-level name become scopes: most bind nothing that
        matters, and a name's lookup then costs nothing."""
        imports_in: dict[ast.AST, list] = {}
        for owner, node in local_imports:
            imports_in.setdefault(owner, []).append(node)
        watched = set(self._module)
        for node in ast.walk(tree):
            if not isinstance(node, _FUNCTION_NODES):
                continue
            bound: dict[str, frozenset[str]] = {}
            for name in _plain_bindings(node):
                if name in watched:
                    bound[name] = frozenset()
            for stmt in imports_in.get(node, ()):
                for local, target in self._import_bindings(stmt):
                    bound[local] = bound.get(local, frozenset()) | {target}
            if bound:
                end = (getattr(node, "end_lineno", node.lineno) or node.lineno, getattr(node, "end_col_offset", 0) or 0)
                self._scopes.append(_Scope(node, (node.lineno, node.col_offset), end, bound))
        # innermost first: a nested function's binding wins over its parent's
        self._scopes.sort(key=lambda s: (s.start, (-s.end[0], -s.end[1])), reverse=True)

    # -- lookups --------------------------------------------------------------------------------------
    @cached_property
    def aliases(self) -> dict[str, str]:
        """Module-level name -> its qualified name, where that is certain (one candidate)."""
        return {k: next(iter(v)) for k, v in self._module.items() if len(v) == 1}

    def name_candidates(self, name: str, where: tuple[int, int] | None = None) -> frozenset[str]:
        """What a bare name may refer to at a position. Unknown names (builtins, locals never shadowing an
        import) resolve to themselves; a shadowing local to nothing."""
        if where is not None and self._scopes:
            for scope in self._scopes:
                if name in scope.bound and scope.start <= where <= scope.end:
                    return scope.bound[name]
        found = self._module.get(name)
        if found:
            return frozenset(found)
        if self.star_modules:
            return frozenset()
        return frozenset({name})

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

    def is_bound(self, name: str, where: tuple[int, int] | None = None) -> bool:
        """Is the name bound by an import or a module-level def/class (not a plain local, not a builtin)?"""
        if where is not None:
            for scope in self._scopes:
                if name in scope.bound and scope.start <= where <= scope.end:
                    return bool(scope.bound[name])
        return name in self._module

    def references(self, wanted: frozenset[str] | set[str], tree: ast.Module) -> bool:
        """Does the module refer to any of these qualified names (through any alias)?"""
        tails = {w.rsplit(".", 1)[-1] for w in wanted}
        tails.update(local for local, targets in self._module.items() if targets & wanted)
        tails.update(local for scope in self._scopes for local, targets in scope.bound.items() if targets & wanted)
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr in tails or isinstance(node, ast.Name) and node.id in tails:
                if self.qualified_names(node) & wanted:
                    return True
        return False


def _statements_with_owner(tree: ast.Module):
    """(statement, the function it is in or None) for every statement, not entering expressions (imports
    are statements). Class bodies belong to the module's level for imports only when at module level."""
    stack: list[tuple[ast.AST, ast.AST | None]] = [(stmt, None) for stmt in reversed(tree.body)]
    while stack:
        node, owner = stack.pop()
        yield node, owner
        inner = node if isinstance(node, _FUNCTION_NODES) else owner
        if isinstance(node, ast.ClassDef) and owner is None:
            inner = node  # a class body's imports bind class attributes, not module names
        children = []
        for name in ("body", "orelse", "finalbody", "handlers", "cases"):
            for child in getattr(node, name, ()) or ():
                children.append((child, inner))
        stack.extend(reversed(children))


def _plain_bindings(func: ast.AST):
    """Names a function binds other than by import: parameters, assignment targets, loop and with targets,
    except-as names, nested defs; `global` and `nonlocal` names are not its own."""
    args = func.args
    for arg in [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]:
        if arg is not None:
            yield arg.arg
    body = func.body if isinstance(func.body, list) else [func.body]
    inside = []
    stack = list(body)
    while stack:
        node = stack.pop()
        inside.append(node)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            stack.extend(node.decorator_list)
            continue  # its body is its own scope
        if not isinstance(node, ast.Lambda):
            stack.extend(ast.iter_child_nodes(node))
    not_own = {name for node in inside if isinstance(node, (ast.Global, ast.Nonlocal)) for name in node.names}
    for node in inside:
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            name = node.id
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            name = node.name
        elif isinstance(node, ast.ExceptHandler) and node.name:
            name = node.name
        else:
            continue
        if name not in not_own:
            yield name
