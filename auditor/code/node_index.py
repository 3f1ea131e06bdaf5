"""One walk over a module's `ast` tree, shared by every module rule and the module's summary: its nodes by
type, and for each function (and the module) the calls, assignments and loops it owns itself (not those of
the functions defined in it). Walking a large tree in Python costs about as much as parsing it, so nothing
else walks a whole module."""

from __future__ import annotations

import ast
from dataclasses import dataclass

# Fields that never hold a node (contexts, operators, plain strings and ints): never looked into.
SCALAR_FIELDS = frozenset({"ctx", "op", "ops", "id", "attr", "arg", "kind", "conversion", "is_async", "type_comment",
                           "asname", "name", "names", "level", "module", "simple", "rest", "kwd_attrs"})
_FIELDS: dict[type, tuple[str, ...]] = {}
_REVERSED: dict[type, tuple[str, ...]] = {}

OWNERS = (ast.FunctionDef, ast.AsyncFunctionDef)
LOOPS = (ast.For, ast.AsyncFor, ast.While)


def child_fields(cls: type) -> tuple[str, ...]:
    """The fields of a node class that may hold nodes, in order."""
    fields = _FIELDS.get(cls)
    if fields is None:
        fields = _FIELDS[cls] = tuple(f for f in cls._fields if f not in SCALAR_FIELDS)
        _REVERSED[cls] = fields[::-1]
    return fields


def reversed_child_fields(cls: type) -> tuple[str, ...]:
    """child_fields, last first: pushed on a stack in this order, the first child is popped first."""
    fields = _REVERSED.get(cls)
    if fields is None:
        child_fields(cls)
        fields = _REVERSED[cls]
    return fields


@dataclass
class Owned:
    """What one function (or the module) owns: its calls, assignments and loops, in walk order."""
    calls: list[ast.Call]
    assigns: list[ast.Assign]
    loops: list[ast.AST]


class _Leave:
    """Pushed under a function's children: popped once they are all walked, it gives the owner back."""
    __slots__ = ("owner",)

    def __init__(self, owner: ast.AST):
        self.owner = owner


@dataclass
class NodeIndex:
    tree: ast.Module
    by_type: dict[type, list[ast.AST]]
    owned: dict[ast.AST, Owned]  # the module and each def -> what it owns

    @property
    def functions(self) -> list[ast.AST]:
        """Every def of the module (nested ones too), in walk order."""
        return [f for f in self.owned if f is not self.tree]

    @classmethod
    def of(cls, tree: ast.Module) -> NodeIndex:
        """Depth first, fields in order. Names and constants, about half of all nodes and never holding
        another, are filed when their parent is met rather than pushed and popped."""
        names: list[ast.AST] = []
        constants: list[ast.AST] = []
        by_type: dict[type, list[ast.AST]] = {ast.Name: names, ast.Constant: constants}
        owned = {tree: Owned([], [], [])}
        owner, mine = tree, owned[tree]
        stack: list = [tree]
        pop, push, AST, leave, name_node, constant = stack.pop, stack.append, ast.AST, _Leave, ast.Name, ast.Constant
        add_name, add_constant = names.append, constants.append
        call, assign, loops, owners = ast.Call, ast.Assign, frozenset(LOOPS), frozenset(OWNERS)
        while stack:
            node = pop()
            kind = node.__class__
            if kind is leave:
                owner = node.owner
                mine = owned[owner]
                continue
            bucket = by_type.get(kind)
            if bucket is None:
                bucket = by_type[kind] = []
            bucket.append(node)
            if kind is call:
                mine.calls.append(node)
            elif kind is assign:
                mine.assigns.append(node)
            elif kind in loops:
                mine.loops.append(node)
            elif kind in owners:
                push(leave(owner))
                owner, mine = node, Owned([], [], [])
                owned[node] = mine
            for field in _REVERSED.get(kind) or reversed_child_fields(kind):
                value = getattr(node, field, None)
                held = value.__class__
                # a list field and a one-node field are handled alike, written out twice: one loop over
                # `(value,)` makes this walk 25% slower
                if held is list:
                    for item in reversed(value):
                        held = item.__class__
                        if held is name_node:
                            add_name(item)
                        elif held is constant:
                            add_constant(item)
                        elif isinstance(item, AST):
                            push(item)
                elif held is name_node:
                    add_name(value)
                elif held is constant:
                    add_constant(value)
                elif isinstance(value, AST):
                    push(value)
        return cls(tree, by_type, owned)
