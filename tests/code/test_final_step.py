"""RA101/RA102 through the scan: what their findings carry (a fix rewrites the condition they name), one verdict
per line, and the configured validation names."""

from __future__ import annotations

import textwrap
from pathlib import Path

from auditor.code.scan import scan_paths
from auditor.config import Config

NANOGPT = '''
iter_num = 0
while True:
    if iter_num % eval_interval == 0 and master_process:
        losses = estimate_loss()
    loss = model(X, Y)
    loss.backward()
    optimizer.step()
    iter_num += 1
    if iter_num > max_iters:
        break
'''


def _findings(tmp_path: Path, source: str, **config):
    (tmp_path / "train.py").write_text(textwrap.dedent(source).lstrip("\n"), encoding="utf-8")
    result = scan_paths([tmp_path], Config(root=tmp_path, select=["RA101", "RA102"], **config), use_cache=False)
    return [(f.rule, f.location.line, f.evidence) for f in result.findings]


def test_schedule_finding_names_the_condition_the_counter_and_its_last_value(tmp_path):
    [(rule, line, evidence)] = _findings(tmp_path, NANOGPT)
    assert (rule, line) == ("RA102", 3)
    assert evidence == {"condition": "iter_num % eval_interval == 0 and master_process",
                        "condition_at": {"line": 3, "col": 7}, "counter": "iter_num", "last_value": "max_iters",
                        "loop_at": {"line": 2}}


def test_a_condition_that_always_excludes_the_last_step_is_only_ra101(tmp_path):
    source = NANOGPT.replace("== 0 and master_process", "== 0 and iter_num != max_iters and master_process")
    [(rule, line, evidence)] = _findings(tmp_path, source)
    assert (rule, line) == ("RA101", 3)
    assert evidence["condition"] == "iter_num % eval_interval == 0 and iter_num != max_iters and master_process"


def test_the_last_step_in_the_schedule_or_after_the_loop_is_no_finding(tmp_path):
    assert _findings(tmp_path, NANOGPT.replace("== 0 and master_process", "== 0 or iter_num == max_iters")) == []
    assert _findings(tmp_path, NANOGPT + "final = estimate_loss()\n") == []


def test_configured_validation_names_are_evaluations_too(tmp_path):
    source = NANOGPT.replace("estimate_loss()", "score_holdout()")
    assert _findings(tmp_path, source) == []
    assert [(r, n) for r, n, _ in _findings(tmp_path, source, validation_functions=["score_holdout"])] == [("RA102", 3)]
