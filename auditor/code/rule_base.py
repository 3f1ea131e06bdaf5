"""The two kinds of code rules.

ModuleRule: looks at one parsed module (cacheable per file content).
ProjectRule: looks at the project index built from every module's summary (entry points, helpers
followed across files).

Examples (`bad`/`good`) are a source string (one file, `example.py`) or a {path: source} dict for a
small project. In a bad example, lines ending with `# expect: RA1xx` must be exactly the lines flagged.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Iterable

from auditor.findings import Finding
from auditor.rule import Rule

if TYPE_CHECKING:  # pragma: no cover
    from auditor.code.context import ModuleContext
    from auditor.code.index import ProjectIndex
    from auditor.config import Config


class ModuleRule(Rule):
    scope = "code"
    # Cheap text prefilter: the rule can only fire in a file containing one of these substrings.
    # Empty means "always run".
    prefilter: ClassVar[tuple[str, ...]] = ()

    def applies_to(self, source: str, config: "Config | None" = None) -> bool:
        """Could the rule fire in this file? `config` is the scan's configuration, for prefilters that depend
        on configured names (RA140's `diagnostic_flags`)."""
        return not self.prefilter or any(token in source for token in self.prefilter)

    def applies_to_tree(self, tree, config: "Config | None" = None) -> bool:
        """Second-stage prefilter on the module's `ast` tree (see auditor/code/tree_prefilter.py); it must
        never say False for a module the rule would flag."""
        return True

    def check(self, ctx: "ModuleContext", context=None) -> Iterable[Finding]:
        """Yield findings for one parsed module."""
        return ()


class ProjectRule(Rule):
    scope = "code"

    def check(self, index: "ProjectIndex", config: "Config") -> Iterable[Finding]:
        """Yield findings for the whole project (entry points, helpers followed across files)."""
        return ()
