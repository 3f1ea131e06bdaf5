"""Small questions about `ast` nodes that several module rules ask (names, calls, validation)."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)
VALIDATION_PREFIXES = ("validat", "evaluat", "run_valid", "run_eval", "do_valid", "do_eval", "eval_model",
                       "compute_val", "_validat", "_evaluat", "do_test", "run_test")
_WORD = re.compile(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])")


def last_name(node: ast.AST | None) -> str | None:
    """`a.b.c` -> "c", `f` -> "f", `a.b()` -> "b" (the name a call or attribute ends with)."""
    while isinstance(node, ast.Call):
        node = node.func
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Name):
        return node.id
    return None


def words(name: str) -> list[str]:
    """"diagonal_gaussian" -> ["diagonal", "gaussian"]; "runDiagnostics" -> ["run", "diagnostics"]."""
    return [w.lower() for w in _WORD.findall(name)]


def walk_local(node: ast.AST) -> Iterator[ast.AST]:
    """Every node under `node` (itself included) without entering nested defs, classes or lambdas."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        for child in ast.iter_child_nodes(current):
            if not isinstance(child, _SCOPES):
                stack.append(child)


def parameter_names(function: ast.FunctionDef | ast.AsyncFunctionDef) -> list[str]:
    """Every name a def's parameters bind, `*args` and `**kwargs` included."""
    args = function.args
    return [a.arg for a in [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg] if a is not None]


def calls_in(nodes) -> Iterator[ast.Call]:
    """Calls under these nodes (one node or a list of statements), in source order, not in nested defs."""
    found = [n for node in (nodes if isinstance(nodes, list) else [nodes]) for n in walk_local(node)
             if isinstance(n, ast.Call)]
    return iter(sorted(found, key=lambda c: (c.lineno, c.col_offset)))


def is_validation_name(name: str, configured) -> bool:
    return name in configured or name.lower().startswith(VALIDATION_PREFIXES)


def mentions(node: ast.AST, name: str) -> bool:
    return any(isinstance(n, ast.Name) and n.id == name for n in ast.walk(node))


def is_int(node: ast.AST | None, value: int) -> bool:
    return isinstance(node, ast.Constant) and type(node.value) is int and node.value == value


def enclosing_function(parent, node: ast.AST) -> ast.AST | None:
    """The def (or module) around a node; `parent` maps a node to its parent (ModuleContext.parent)."""
    current = parent(node)
    while current is not None and not isinstance(current, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Module)):
        current = parent(current)
    return current
