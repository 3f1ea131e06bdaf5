"""The scopes a rule can belong to, each in one place: its typed rule base(s), the subject its rules check,
the example adapter that turns one of its rules' bad/good examples into findings (the rule's tests, see
`auditor.testing`), and the driver that runs its rules in the product.

Targets are "module:attribute" strings, imported on use: `audit scan` never imports the run or replay
machinery. A rule whose `scope` is not a key here is rejected when its class is defined.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Scope:
    name: str
    bases: tuple[str, ...]  # the rule base classes of this scope
    subject: str  # what `check` receives first
    examples: str | None  # (rule class, example, folder, plugins) -> findings; None: its rules have no examples
    driver: str  # where the product runs this scope's rules (each rule through auditor.meta.run_rule)

    def base_classes(self) -> tuple[type, ...]:
        return tuple(load(target) for target in self.bases)

    def example_adapter(self):
        return load(self.examples) if self.examples else None


def load(target: str) -> Any:
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


SCOPES: dict[str, Scope] = {scope.name: scope for scope in (
    # Meta rules are reported by the engine itself (unreadable input, suppressions, crashes); their
    # examples are code examples.
    Scope("meta", ("auditor.rule:MetaRule",), "whatever the engine met", "auditor.code.examples:findings_for_example",
          "auditor.meta:run_rule"),
    Scope("code", ("auditor.code.rule_base:ModuleRule", "auditor.code.rule_base:ProjectRule"),
          "auditor.code.context:ModuleContext (ModuleRule), auditor.code.index:ProjectIndex (ProjectRule)",
          "auditor.code.examples:findings_for_example", "auditor.code.scan:scan_files"),
    Scope("run", ("auditor.rule:RunRule",), "auditor.runs.record:Run", "auditor.runs.examples:findings_for_example",
          "auditor.runs.audit:audit_run_record"),
    Scope("compare", ("auditor.rule:CompareRule",), "auditor.compare.comparison:Comparison",
          "auditor.compare.examples:findings_for_example", "auditor.compare.api:run_rules"),
    Scope("replay", ("auditor.rule:ReplayRule",), "auditor.replay.result:ReplayResult",
          "auditor.replay.result:findings_for_example", "auditor.replay.driver:findings_for"),
    Scope("docs", ("auditor.rule:DocsRule",), "auditor.claims:Claim or auditor.claims:Reference (by `subject`)",
          "auditor.claims:findings_for_example", "auditor.claims:check_docs"),
)}
