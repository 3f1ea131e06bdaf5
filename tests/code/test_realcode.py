"""The labelled findings on real ML code hold: no finding judged false comes back, none judged true is lost.

The development set (../shared/realcode, or $AUDITOR_REALCODE) and its labels are read by
benchmarks/realcode.py (which also prints precision and plant recall); this test pins the verdicts only,
and scans no more than it needs: each folder's whole tree with the project rules that have labels there
(they need the project index), and only the labelled files with the module rules (one file is all they
see). A true positive counts as kept at any severity; a false positive comes back only as a warning or
error (an info finding is not judged).

Expected failures: benchmarks/realcode_known_fp.txt lists the false positives still reported (rules not yet
fixed), one `RULE repo path:line` a line. They are tolerated, strictly: one that is no longer reported must
be taken off the list, so the list only shrinks.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import sys
from pathlib import Path

import pytest

from auditor.code.rule_base import ProjectRule
from auditor.code.analysis import code_rules
from auditor.code.scan import scan_paths
from auditor.config import load_config

_BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "realcode.py"
_spec = importlib.util.spec_from_file_location("realcode_benchmark", _BENCH)
realcode = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = realcode  # dataclasses look their module up while the class is made
_spec.loader.exec_module(realcode)

pytestmark = pytest.mark.skipif(not realcode.REALCODE.is_dir(), reason="no development set at ../shared/realcode")

LABELS = realcode.load_labels() if realcode.REALCODE.is_dir() else {}
KNOWN_FP = realcode.REPO / "benchmarks" / "realcode_known_fp.txt"


def _known_fps() -> set[tuple[str, str, int, str]]:
    out = set()
    for text in KNOWN_FP.read_text().splitlines() if KNOWN_FP.exists() else []:
        text = text.split("#", 1)[0].strip()
        if text:
            rule, repo, where = text.split()
            path, _, line = where.rpartition(":")
            out.add((repo, path, int(line), rule))
    return out
FOLDERS = sorted({lb.repo.replace("/", "+", 1) for lb in LABELS.values()})


def _project_rule_ids(config) -> set[str]:
    return {r.id for r in code_rules(config) if isinstance(r, ProjectRule)}


def _scan(folder: Path, targets: list[Path], rules: set[str]) -> set[tuple[str, int, str, str]]:
    if not rules or not targets:
        return set()
    config = dataclasses.replace(load_config(folder), select=sorted(rules))
    result = scan_paths(targets, config, use_cache=False, jobs=1)
    out = set()
    for f in result.findings:
        path = f.location.path
        if path is None:
            continue
        rel = Path(path).resolve().relative_to(folder.resolve()).as_posix() if Path(path).is_absolute() else path
        out.add((rel, (f.location.line or 0), f.rule, f.severity))
    return out


@pytest.mark.parametrize("folder", FOLDERS)
def test_labelled_verdicts_hold(folder):
    root = realcode.REALCODE / folder
    repo = realcode.repo_of(folder)
    mine = [lb for lb in LABELS.values() if lb.repo == repo]
    project_ids = _project_rule_ids(load_config(root))
    project = {lb.rule for lb in mine if lb.rule in project_ids}
    module = {lb.rule for lb in mine if lb.rule not in project_ids}
    files = sorted({lb.path for lb in mine if lb.rule in module})
    found = _scan(root, [root], project) | _scan(root, [root / p for p in files], module)
    anywhere = {(p, line, rule) for p, line, rule, _ in found}
    judged = {(p, line, rule) for p, line, rule, sev in found if sev in realcode.JUDGED}
    moves = realcode.load_moves()
    reported = {(repo, p, line, rule) for p, line, rule in anywhere}
    lost = [lb for lb in mine if lb.verdict == "tp" and not realcode.still_reported(lb, reported, moves)]
    back = [lb for lb in mine if lb.verdict == "fp" and (lb.path, lb.line, lb.rule) in judged]
    known = {k for k in _known_fps() if k[0] == repo}
    new_back = [lb for lb in back if lb.key not in known]
    fixed = sorted(known - {lb.key for lb in back})
    assert not lost, "labelled true positives no longer reported:\n" + "\n".join(
        f"  {lb.rule} {lb.path}:{lb.line} ({lb.why[:100]})" for lb in lost)
    assert not new_back, "findings labelled false positive reported again:\n" + "\n".join(
        f"  {lb.rule} {lb.path}:{lb.line} ({lb.why[:100]})" for lb in new_back)
    assert not fixed, f"no longer reported, take them off {KNOWN_FP.name}:\n" + "\n".join(
        f"  {rule} {r} {path}:{line}" for r, path, line, rule in fixed)
