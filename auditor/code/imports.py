"""A small import/alias table per module: far cheaper than libcst's full scope analysis.

`import torch as T`                -> T        = torch
`import numpy.random`              -> numpy    = numpy
`from torch import manual_seed as s` -> s      = torch.manual_seed
`from .utils import set_seed`      -> set_seed = <package>.utils.set_seed
Names defined in the module itself (def/class) resolve to <module>.<name>.
"""

from __future__ import annotations

import libcst as cst

from auditor.code.resolve import resolve_relative


def _dotted(node: cst.BaseExpression | None) -> str | None:
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        base = _dotted(node.value)
        return f"{base}.{node.attr.value}" if base else None
    return None


class ImportTable(cst.CSTVisitor):
    def __init__(self, module_name: str = "", is_package: bool = False):
        self.module_name = module_name
        self.is_package = is_package
        self.aliases: dict[str, str] = {}
        self.imported_modules: set[str] = set()
        self._depth = 0  # nesting in def/class: only top-level definitions become module names

    def visit_Import(self, node: cst.Import) -> None:
        for alias in node.names:
            full = _dotted(alias.name)
            if not full:
                continue
            self.imported_modules.add(full)
            if alias.asname is not None:
                self.aliases[_dotted(alias.asname.name) or full] = full
            else:
                top = full.split(".")[0]
                self.aliases.setdefault(top, top)

    def visit_ImportFrom(self, node: cst.ImportFrom) -> None:
        target = _dotted(node.module) if node.module is not None else None
        level = len(node.relative)
        base = resolve_relative(self.module_name, self.is_package, level, target) if level else (target or "")
        if not base:
            return
        self.imported_modules.add(base)
        if isinstance(node.names, cst.ImportStar):
            return
        for alias in node.names:
            name = _dotted(alias.name)
            if not name:
                continue
            local = _dotted(alias.asname.name) if alias.asname is not None else name
            self.aliases[local] = f"{base}.{name}"

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        if self._depth == 0 and self.module_name:
            self.aliases.setdefault(node.name.value, f"{self.module_name}.{node.name.value}")
        self._depth += 1

    def leave_FunctionDef(self, original_node: cst.FunctionDef) -> None:
        self._depth -= 1

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        if self._depth == 0 and self.module_name:
            self.aliases.setdefault(node.name.value, f"{self.module_name}.{node.name.value}")
        self._depth += 1

    def leave_ClassDef(self, original_node: cst.ClassDef) -> None:
        self._depth -= 1


def build_import_table(tree: cst.Module, module_name: str = "", is_package: bool = False) -> ImportTable:
    """The same table the ImportTable visitor builds, from one fast read-only walk.

    Imports count anywhere (also inside functions); definitions only outside any def/class.
    """
    table = ImportTable(module_name, is_package)
    for node in _statements(tree):
        if isinstance(node, cst.Import):
            table.visit_Import(node)
        elif isinstance(node, cst.ImportFrom):
            table.visit_ImportFrom(node)
    if module_name:
        for node in _top_level_definitions(tree.body):
            table.aliases.setdefault(node.name.value, f"{module_name}.{node.name.value}")
    return table


def _statements(root: cst.CSTNode):
    """Every statement-level node, in the order of walk.iter_nodes, without entering expressions (imports
    are statements, so no import is missed; most of a module's nodes are expressions)."""
    from auditor.code.walk import _fields_of

    stack = [root]
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, (cst.Import, cst.ImportFrom)):
            continue
        children = []
        for name in _fields_of(type(node)):
            value = getattr(node, name)
            for v in (value if type(value) in (list, tuple) else (value,)):
                if _statement_like(v.__class__):
                    children.append(v)
        stack.extend(reversed(children))


_STATEMENT_LIKE: dict[type, bool] = {}


def _statement_like(cls: type) -> bool:
    """A node `_statements` enters: a CSTNode that is neither an expression nor whitespace/punctuation (cached
    per class: libcst's bases are ABCs, whose isinstance is slow)."""
    found = _STATEMENT_LIKE.get(cls)
    if found is None:
        from auditor.code.walk import _SKIP_TYPES

        found = _STATEMENT_LIKE[cls] = issubclass(cls, cst.CSTNode) and not issubclass(
            cls, (cst.BaseExpression, *_SKIP_TYPES))
    return found


def _top_level_definitions(body) -> list:
    """defs and classes not nested in another def/class (inside a module-level if/try/with they count)."""
    found = []
    for stmt in body:
        if isinstance(stmt, (cst.FunctionDef, cst.ClassDef)):
            found.append(stmt)
        elif isinstance(stmt, cst.BaseCompoundStatement):
            blocks = [getattr(stmt, "body", None), getattr(stmt, "orelse", None), getattr(stmt, "finalbody", None),
                      *[h for h in getattr(stmt, "handlers", ()) or ()]]
            for block in blocks:
                while block is not None and not isinstance(block, cst.BaseSuite) and hasattr(block, "body"):
                    block = block.body
                if isinstance(block, cst.IndentedBlock):
                    found.extend(_top_level_definitions(block.body))
            if isinstance(getattr(stmt, "orelse", None), cst.If):
                found.extend(_top_level_definitions([stmt.orelse]))
    return found


def qualified_name(node: cst.BaseExpression, aliases: dict[str, str]) -> str | None:
    """The dotted name an expression refers to through the module's imports, or None.

    `T.manual_seed` with `import torch as T` -> "torch.manual_seed"; a call's func is resolved by
    passing `call.func`. Unknown bare names resolve to themselves (locals, builtins).
    """
    if isinstance(node, cst.Name):
        return aliases.get(node.value, node.value)
    if isinstance(node, cst.Attribute):
        base = qualified_name(node.value, aliases)
        return f"{base}.{node.attr.value}" if base else None
    if isinstance(node, cst.Call):  # e.g. torch.Generator().manual_seed -> torch.Generator().manual_seed
        base = qualified_name(node.func, aliases)
        return f"{base}()" if base else None
    return None
