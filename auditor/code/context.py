"""What a module rule sees: one module's stdlib `ast` tree, its name resolver, positions, project facts, config."""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from functools import cached_property
from operator import attrgetter

from auditor.code.facts import ProjectFacts
from auditor.code.node_index import NodeIndex
from auditor.code.resolve import Resolver
from auditor.config import Config
from auditor.findings import code_location
from auditor.locations import CodeLocation

_POSITION = attrgetter("lineno", "col_offset")


@dataclass
class ModuleContext:
    path: str  # as reported: relative to the scan root, "/" separators
    source: str
    tree: ast.Module
    config: Config = field(default_factory=Config)
    module_name: str = ""  # dotted name inside the project ("pkg.train"), "" when unknown
    is_package: bool = False  # an __init__.py
    facts: ProjectFacts = field(default_factory=ProjectFacts)

    @cached_property
    def resolver(self) -> Resolver:
        return Resolver(self.tree, self.module_name, self.is_package)

    def qualified_name(self, node: ast.AST) -> str | None:
        return self.resolver.qualified_name(node)

    def qualified_names(self, node: ast.AST) -> frozenset[str]:
        return self.resolver.qualified_names(node)

    @cached_property
    def lines(self) -> list[str]:
        return self.source.splitlines()

    @cached_property
    def node_index(self) -> NodeIndex:
        """Every node of the module by its type, and what each function owns: one walk shared by every rule
        and the module's summary."""
        return NodeIndex.of(self.tree)

    def any_order(self, *types: type) -> list:
        """The module's nodes of these types, in no particular order (cheaper than `nodes`)."""
        by_type = self.node_index.by_type
        if len(types) == 1:
            return by_type.get(types[0], [])
        return [n for t in types for n in by_type.get(t, ())]

    def nodes(self, *types: type) -> list:
        """The module's nodes of these types, in source order."""
        cache = self.__dict__.setdefault("_nodes", {})
        if types not in cache:
            cache[types] = sorted(self.any_order(*types), key=_POSITION)
        return cache[types]

    @cached_property
    def _parents(self) -> dict[int, ast.AST]:
        parents: dict[int, ast.AST] = {}
        for node in ast.walk(self.tree):
            for child in ast.iter_child_nodes(node):
                parents[id(child)] = node
        return parents

    def parent(self, node: ast.AST) -> ast.AST | None:
        return self._parents.get(id(node))

    def position(self, node: ast.AST) -> tuple[int, int]:
        """(line, column in characters): `ast` counts columns in UTF-8 bytes."""
        line, col = node.lineno, node.col_offset
        text = self.lines[line - 1] if 0 < line <= len(self.lines) else ""
        if col and not text.isascii():
            col = len(text.encode("utf-8")[:col].decode("utf-8", "replace"))
        return line, col

    def location(self, node: ast.AST) -> CodeLocation:
        return code_location(self.path, *self.position(node))

    def anchor(self, node: ast.AST) -> str:
        """The normalized text of the node's first line: what a fingerprint is tied to."""
        line = node.lineno
        return " ".join(self.lines[line - 1].split()) if 0 < line <= len(self.lines) else ""

    def text(self, node: ast.AST) -> str:
        """The node's source text, whitespace normalized (for messages and evidence)."""
        return " ".join((ast.get_source_segment(self.source, node) or ast.unparse(node)).split())
