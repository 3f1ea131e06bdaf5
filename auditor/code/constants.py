"""Names that hold one literal wherever a function reads them, and the branches such a name rules out.

`num_epochs = 20` bound once in `main()`, and nowhere else, is 20 wherever `main` reads it; so is a module's
`DO_TEST = False` in a function that binds no `DO_TEST` of its own (nor does any def around it), when no
`global DO_TEST` or `from x import *` can rebind it. Any other binding of the name (a parameter, a second
assignment, a loop or `with` target, an import, an augmented assignment, a walrus, a `del`, a def, a
`nonlocal` in a nested def) makes it unknown. The final-step analysis reads loop bounds and
schedules through these, and leaves out validations that sit in a branch a constant never takes.
"""

from __future__ import annotations

import ast
from collections import Counter
from functools import lru_cache

from auditor.code.syntax import parameter_names, walk_local

_LITERAL_TYPES = (int, bool, type(None))  # bool is an int: a bound or a switch
_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)
_NESTED = (*_FUNCTIONS, ast.ClassDef, ast.Lambda)  # scopes of their own: only a def's or class's name binds here


def literal_constants(scope: ast.AST, module: ast.Module, enclosing: tuple[ast.AST, ...] = ()) -> dict:
    """name -> the literal (int, bool, None) it always holds in `scope` (a def, or the module itself).
    `enclosing`: the defs around a nested def, innermost first: their names hide the module's."""
    found: dict[str, int | bool | None] = {}
    hidden: set[str] = set()
    for where in (scope, *enclosing, module) if scope is not module else (module,):
        own, bound = _own(where, module)
        found.update((name, value) for name, value in own.items() if name not in hidden)
        hidden |= bound | set(own)
    return found


@lru_cache(maxsize=8)  # the module's own, asked once per function with a training loop
def _own(scope: ast.AST, module: ast.Module) -> tuple[dict[str, int | bool | None], set[str]]:
    """The scope's own constants, and every other name it binds (parameters included)."""
    own, bound = _bindings(scope)
    if scope is module:
        if "*" in bound:  # `from x import *` may rebind any of them
            return {}, bound | set(own)
        rebound = _declared_global(module)
        return {name: value for name, value in own.items() if name not in rebound}, bound | rebound
    bound = bound | set(parameter_names(scope))
    return {name: value for name, value in own.items() if name not in bound}, bound


def dead_spans(scope: ast.AST, constants: dict[str, int | bool | None]) -> list[tuple[int, int]]:
    """(first line, last line) of each branch of an `if` in `scope` that its constant test never takes."""
    spans = []
    for node in walk_local(scope):
        if isinstance(node, ast.If):
            truth = _truth(node.test, constants)
            branch = node.orelse if truth is True else node.body if truth is False else []
            if branch:
                spans.append((branch[0].lineno, branch[-1].end_lineno or branch[-1].lineno))
    return spans


def _truth(test: ast.AST, constants: dict) -> bool | None:
    if isinstance(test, ast.Constant):
        return bool(test.value)
    if isinstance(test, ast.Name) and test.id in constants:
        return bool(constants[test.id])
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        inner = _truth(test.operand, constants)
        return None if inner is None else not inner
    return None


def _bindings(scope: ast.AST) -> tuple[dict[str, int | bool | None], set[str]]:
    """The names `scope` binds once to a literal, and every name it binds in any other way (or twice)."""
    literal: dict[str, int | bool | None] = {}
    stores: Counter[str] = Counter()
    other: set[str] = set()
    todo = [scope]
    while todo:  # walk_local's walk, telling the defs and classes it does not enter by their names
        node = todo.pop()
        for child in ast.iter_child_nodes(node):
            if not isinstance(child, _NESTED):
                todo.append(child)
            elif not isinstance(child, ast.Lambda):
                other.add(child.name)
        kind = node.__class__
        if kind is ast.Name and not isinstance(node.ctx, ast.Load):
            stores[node.id] += 1
        elif kind is ast.Assign and len(node.targets) == 1 or kind is ast.AnnAssign and node.value is not None:
            target = node.targets[0] if kind is ast.Assign else node.target
            value = node.value
            if isinstance(target, ast.Name) and isinstance(value, ast.Constant) and \
                    isinstance(value.value, _LITERAL_TYPES):
                literal[target.id] = value.value
        elif kind in (ast.Import, ast.ImportFrom):
            other.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif kind in (ast.Global, ast.Nonlocal):
            other.update(node.names)
        elif kind is ast.ExceptHandler and node.name or kind in (ast.MatchAs, ast.MatchStar) and node.name:
            other.add(node.name)
        elif kind is ast.MatchMapping and node.rest:
            other.add(node.rest)
    if isinstance(scope, _FUNCTIONS):  # a nested def may rebind the function's names (`nonlocal`)
        other.update(name for node in ast.walk(scope) if isinstance(node, ast.Nonlocal) for name in node.names)
    other.update(name for name, count in stores.items() if count > 1)
    return {name: value for name, value in literal.items() if name not in other}, other | set(stores) - set(literal)


def _declared_global(module: ast.Module) -> set[str]:
    """Names some function declares `global`: it may rebind them."""
    return {name for node in ast.walk(module) if isinstance(node, ast.Global) for name in node.names}
