"""The libcst view of a module, for RA101/RA102 until they move to the ast (then this file goes)."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

import libcst as cst
from libcst.metadata import MetadataWrapper, ParentNodeProvider, PositionProvider

from auditor.code.imports import build_import_table, qualified_name
from auditor.config import Config
from auditor.findings import code_location

if TYPE_CHECKING:  # pragma: no cover
    from auditor.code.project_index import ProjectIndex


@dataclass
class CstModuleContext:
    path: str  # as reported: relative to the scan root, "/" separators
    source: str
    tree: cst.Module
    config: Config = field(default_factory=Config)
    module_name: str = ""  # dotted name inside the project ("pkg.train"), "" when unknown
    is_package: bool = False  # an __init__.py
    project: "ProjectIndex | None" = None
    extras: dict[str, Any] = field(default_factory=dict)  # per-module scratch space rules may share

    @cached_property
    def _imports(self):
        return build_import_table(self.tree, self.module_name, self.is_package)

    @property
    def aliases(self) -> dict[str, str]:
        return self._imports.aliases

    @property
    def imported_modules(self) -> set[str]:
        return self._imports.imported_modules

    def qualified_name(self, node: cst.BaseExpression) -> str | None:
        return qualified_name(node, self.aliases)

    @cached_property
    def wrapper(self) -> MetadataWrapper:
        # unsafe_skip_copy: rules then see the very nodes the metadata is keyed on.
        return MetadataWrapper(self.tree, unsafe_skip_copy=True)

    @cached_property
    def positions(self):
        return self.wrapper.resolve(PositionProvider)

    @cached_property
    def parents(self):
        return self.wrapper.resolve(ParentNodeProvider)

    @cached_property
    def lines(self) -> list[str]:
        return self.source.splitlines()

    @cached_property
    def starts(self) -> dict:
        """node -> (line, col) of its syntactic start: PositionProvider's numbers, several times cheaper."""
        from auditor.code.positions import start_positions

        return start_positions(self.tree)

    def position(self, node: cst.CSTNode) -> tuple[int, int]:
        # Most files report a few expressions: each is found by its own code first; the table of every
        # node (a pass over the whole module) only when that cannot tell.
        starts = self.__dict__.get("starts")
        if starts is None:
            quick = self.extras.setdefault("_quick_starts", {})
            found = quick.get(node)
            if found is None:
                from auditor.code.positions import node_start

                found = quick[node] = node_start(self.tree, self.source, node) or self.starts[node]
            return found
        return starts[node]

    def location(self, node: cst.CSTNode) -> dict:
        line, col = self.position(node)
        return code_location(self.path, line, col)

    def anchor(self, node: cst.CSTNode) -> str:
        """The normalized text of the node's first line: what a fingerprint is tied to."""
        line, _ = self.position(node)
        return " ".join(self.lines[line - 1].split()) if 0 < line <= len(self.lines) else ""
