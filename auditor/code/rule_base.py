"""The two kinds of code rules.

ModuleRule: looks at one module's `ast` tree (cacheable per file content). It declares what it needs as
data -- the qualified API names it looks for, or text that must appear -- and the engine skips files that
cannot match: the rule's logic is written once, in `check`.
ProjectRule: looks at the project index built from every module's summary (entry points, helpers
followed across files).

Examples (`bad`/`good`) are a source string (one file, `example.py`) or a {path: source} dict for a
small project. In a bad example, lines ending with `# expect: RA1xx` must be exactly the lines flagged.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, ClassVar, Iterable

from auditor.findings import Finding
from auditor.rule import Rule

if TYPE_CHECKING:  # pragma: no cover
    from auditor.code.context import ModuleContext
    from auditor.code.project_index import ProjectIndex
    from auditor.config import Config


@dataclass(frozen=True)
class Needs:
    """A file can only match when it refers to one of `apis` (through any import or alias) or contains one of
    `text`. Both empty: every file."""
    apis: frozenset[str] = frozenset()
    text: tuple[str, ...] = ()

    @cached_property
    def _tokens(self) -> tuple[str, ...]:
        """The texts of which one must appear: `text`, then each API's last name (what any alias still names)."""
        return tuple(dict.fromkeys([*self.text, *sorted(api.rsplit(".", 1)[-1] for api in self.apis)]))

    def text_allows(self, source: str) -> bool:
        tokens = self._tokens
        return not tokens or any(token in source for token in tokens)

    def tree_allows(self, ctx: "ModuleContext") -> bool:
        if not self.apis or any(token in ctx.source for token in self.text):
            return True
        return ctx.resolver.references(self.apis, ctx.any_order(ast.Name), ctx.any_order(ast.Attribute))


class ModuleRule(Rule):
    scope = "code"
    apis: ClassVar[tuple[str, ...]] = ()
    text: ClassVar[tuple[str, ...]] = ()

    def needs(self, _config: "Config | None" = None) -> Needs:
        """What a file must contain for this rule to fire; rules whose names come from the config override it."""
        return Needs(frozenset(self.apis), tuple(self.text))

    def check(self, _ctx: "ModuleContext") -> Iterable[Finding]:
        """Yield findings for one module (every module rule overrides it)."""
        return ()


class ProjectRule(Rule):
    scope = "code"

    def check(self, _index: "ProjectIndex", _config: "Config") -> Iterable[Finding]:
        """Yield findings for the whole project (every project rule overrides it)."""
        return ()
