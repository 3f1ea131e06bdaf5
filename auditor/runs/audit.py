"""Auditing one run record: every selected rule of scope "run" over the normalized Run."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from auditor.errors import InputError
from auditor.findings import Finding, run_location, sort_findings
from auditor.locations import FileLocation
from auditor.meta import input_unreadable, run_rule
from auditor.registry import selected_rules
from auditor.runs.record import Run


@dataclass
class RunContext:
    config: Any
    key_map: dict[str, list[str]] = field(default_factory=dict)
    repo: Any = None  # auditor.vcs.Repo, or None: RA202 is then skipped

    def value(self, run: Run, meaning: str) -> Any:
        """The run's config value for a key-map meaning (seed, max_steps, eval_interval, ...)."""
        return run.config_value(meaning, self.key_map)

    def sha_status(self, sha: str) -> tuple[bool | None, str]:
        """(is the commit in the repo: True/False, or None when there is no repo / it cannot tell; git's note)."""
        if self.repo is None or not sha:
            return None, ""
        resolve = getattr(self.repo, "resolve_recorded", None) or getattr(self.repo, "resolve", None)
        if resolve is None:
            return None, ""
        try:  # Repo.resolve raises InputError or returns None for an unknown SHA; tolerate either
            return resolve(sha) is not None, ""
        except InputError as exc:
            if "ambiguous" in exc.message:
                return None, exc.message
            return False, exc.message
        except (ValueError, LookupError) as exc:
            return False, str(exc)


def audit_run_record(run: Run, config, repo=None) -> list[Finding]:
    context = RunContext(config=config, key_map=config.key_map, repo=repo)
    findings: list[Finding] = []
    for rule in selected_rules(config, "run"):
        findings.extend(run_rule(rule, run_location(run.id), run, context, config=config))
    if run.problems and config.is_selected("RA001"):
        for problem in run.problems:
            location = FileLocation(problem["path"], problem.get("line") or None)
            findings.append(input_unreadable(f"run {run.id}: {problem['message']}", location, {"run": run.id},
                                             config=config))
    return sort_findings(findings)
