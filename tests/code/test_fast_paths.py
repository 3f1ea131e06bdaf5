"""The scanner's fast paths must decide exactly as the slow definitions they replace: the ast recognizers
against their libcst originals, the split text prefilter against its one regex, the statement walk against
ast.walk."""

from __future__ import annotations

import ast
import textwrap

import libcst as cst
import pytest

from auditor.code import patterns, tree_prefilter
from auditor.code.summarize import summarize_source
from auditor.config import Config

CONDITIONS = [
    "is_last_step", "self.is_last_batch", "is_last_step(step)", "step == total_steps", "step >= max_steps",
    "epoch == num_epochs - 1", "self.global_steps >= self.total_training_steps", "total_steps <= step",
    "step > max_steps - 1", "step > max_steps", "step + 1 == len(loader)", "idx == len(batches) - 1",
    "a and is_last_step", "a or is_last_step", "not is_last_step", "step != total - 1", "step < total - 1",
    "step < total", "x and not last_epoch", "a and (b or is_last)", "step == 0", "max_step == step",
    "(step + 1) % freq == 0", "final", "is_final_iteration and flag", "step == total + True", "-is_last",
    "step == n_steps - 0x1", "it >= limit", "steps[0] == num[1]", "f(x).step == total",
]


@pytest.mark.parametrize("condition", CONDITIONS)
def test_ast_last_step_recognizers_match_libcst(condition):
    cst_node = cst.parse_expression(condition)
    ast_node = ast.parse(condition, mode="eval").body
    assert tree_prefilter.is_last_step_test(ast_node) == patterns.is_last_step_test(cst_node)
    assert tree_prefilter.is_not_last_step_test(ast_node) == patterns.is_not_last_step_test(cst_node)


TEXTS = ["x.last_step", "__is_last_step", "is_last", "a_last_step", "xis_last_step", "is_final_epochs",
         "_final_update", "last_steps2", "is_lastx", "if step<len(x):", "é_last_step", "élast_step",
         "is_is_last_step", "(last_batch)", "for epoch in range(n):\n  if epoch == num_epochs - 1:", "nothing",
         "last_final_step", "final_training_round", "my_steps >= max_x", "iter !=  n_iter", "last_hidden_state"]


@pytest.mark.parametrize("text", TEXTS)
def test_text_last_step_matches_the_regex(text):
    assert patterns.text_last_step(text) == (patterns.TEXT_LAST_STEP.search(text) is not None)


MODULE = textwrap.dedent('''
    import os
    try:
        import torch
    except ImportError:
        from numpy import load as torch
    else:
        pass
    finally:
        import sys
    def f():
        import json as j
        for x in y:
            if x:
                from a import b
            else:
                import c.d
        while 1:
            match x:
                case 1:
                    import e
    class K:
        async def g(self):
            with o:
                import h
''')


def test_statements_are_ast_walk_order_without_expressions():
    tree = ast.parse(MODULE)
    expected = [n for n in ast.walk(tree) if isinstance(n, (ast.Module, ast.stmt, ast.ExceptHandler, ast.match_case))]
    assert tree_prefilter.statements(tree) == expected
    assert list(tree_prefilter.nodes(tree, ast.Import)) == [n for n in ast.walk(tree) if isinstance(n, ast.Import)]


def test_summary_finds_calls_in_multiline_expressions_and_skips_paren_free_ones():
    source = textwrap.dedent('''
        import numpy as np
        TABLE = {
            "a": 1,
            "b": [2, 3],
        }
        x = [
            1,
            np.random.permutation(
                10),
        ]
        lam = lambda: np.random.rand()
    ''')
    summary = summarize_source("m.py", source, "m", False).to_json()
    events = summary["functions"]["m.<module>"]["events"]
    assert [(e[0], e[1], e[2]) for e in events] == [("consume", "numpy.random.permutation", 9),
                                                    ("consume", "numpy.random.rand", 12)]
    # with "\r" line endings the paren shortcut is off; the events are the same
    crlf = summarize_source("m.py", source.replace("\n", "\r\n"), "m", False).to_json()
    assert [(e[0], e[1], e[2]) for e in crlf["functions"]["m.<module>"]["events"]] == \
        [(e[0], e[1], e[2]) for e in events]




ORIGINAL_TEXT_VALIDATION = r"validat|evaluat|run_eval|do_eval|eval_model|\b_?val_|_val\b|\beval_|_eval\b|\btest\(|\btest_metrics"


@pytest.mark.parametrize("text", [
    "val_x", "aval_x", "_val_x", "a_val_x", "x_val", "x_val2", "eval_", "xeval_", "a_eval", "a_evalx", "test(",
    "atest(", "test_metrics", "mytest_metrics", "é_val_", "éval_", "(val_", "\nval_", "__val_", "x.eval_", "_val",
    "interval_ms = 3", "self.validate()", "do_eval=True", "retest(", "x.test(y)", "",
])
def test_text_validation_matches_its_plain_form(text):
    import re

    assert (patterns.TEXT_VALIDATION.search(text) is None) == (re.search(ORIGINAL_TEXT_VALIDATION, text) is None)
