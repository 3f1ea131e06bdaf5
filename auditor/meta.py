"""The findings the engine reports about itself, each built here and nowhere else:

- RA001 input-unreadable: an input among many could not be read; it was skipped, the rest audited;
- RA004 rule-crashed: a rule raised on a subject. Every driver (code modules, the project, runs,
  comparisons, replays, docs) calls its rules through `run_rule`, so one rule's bug is an error finding
  (the command exits 1) while the other rules' findings are still reported. Nothing passes silently.
"""

from __future__ import annotations

import os
import traceback
from typing import Any

from auditor.findings import Finding
from auditor.locations import LocationLike


# The path of a finding about the whole project (a project rule that crashed): reported whatever files
# were asked for.
PROJECT_PATH = "."

# The evidence key (value: the SHA) of an RA001 saying the code at a commit could not be read (not fetched
# yet, a missing object): that is about the repository tonight, not the run, so the nightly keeps no such
# result and tries again the next night.
UNREADABLE_COMMIT = "unreadable_commit"


class EngineSignal(Exception):
    """Raised by the engine underneath a rule (a cache entry gone missing): not the rule's bug, so
    `run_rule` lets it through to the engine that handles it."""


def _severity(config: Any, rule_id: str) -> str | None:
    return getattr(config, "severity", {}).get(rule_id) if config is not None else None


def input_unreadable(message: str, location: LocationLike, evidence: dict | None = None, *, config: Any = None,
                     anchor: str = "", severity: str | None = None) -> Finding:
    """An RA001 finding (with the configured severity, when a configuration is given; `severity` overrides
    both where nothing was audited at all)."""
    from auditor.rules.meta.ra001_input_unreadable import InputUnreadable  # not the whole rule pack

    return InputUnreadable(severity=severity or _severity(config, "RA001")).finding(message, location, evidence,
                                                                                     anchor=anchor)


def rule_crashed(rule, exc: BaseException, location: LocationLike, *, config: Any = None) -> Finding:
    """An RA004 finding: `rule` raised `exc` on the subject at `location`."""
    from auditor.rules.meta.ra004_rule_crashed import RuleCrashed

    kind = type(exc).__name__
    where = _where(exc)
    text = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
    message = (f"rule {rule.id} ({rule.name}) crashed with {kind}{': ' + text if text else ''} at {where}; "
               f"its verdict on this input is missing (report it to the rule's authors)")
    return RuleCrashed(severity=_severity(config, "RA004")).finding(
        message, location, {"rule": rule.id, "exception": kind, "where": where}, anchor=f"{rule.id}:{kind}")


def _where(exc: BaseException) -> str:
    """The innermost frame of the traceback as `module:line in function` (the same on every machine)."""
    frames = list(traceback.walk_tb(exc.__traceback__))
    if not frames:
        return "unknown"
    frame, line = frames[-1]
    module = frame.f_globals.get("__name__") or os.path.basename(frame.f_code.co_filename)
    return f"{module}:{line} in {frame.f_code.co_name}"


def run_rule(rule, location: LocationLike, *args: Any, config: Any = None) -> list[Finding]:
    """`rule.check(*args)` as a list; a rule that raises gives one RA004 finding at `location` instead.
    AUDITOR_DEBUG=1 lets the exception through, with its traceback, for the rule's author."""
    try:
        return list(rule.check(*args) or ())
    except EngineSignal:
        raise
    except Exception as exc:  # noqa: BLE001 - any bug of any rule: reported, never silent
        if os.environ.get("AUDITOR_DEBUG"):
            raise
        return [rule_crashed(rule, exc, location, config=config)]
