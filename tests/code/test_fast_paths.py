"""The scanner's fast paths must decide exactly as the slow definitions they replace: the ast recognizers
against their libcst originals, the split text prefilter against its one regex, the statement walk against
ast.walk, and RA140's region-only walk against a full libcst visit of the same rule."""

from __future__ import annotations

import ast
import textwrap

import libcst as cst
import pytest

from auditor.code import patterns, tree_prefilter
from auditor.code.context import ModuleContext
from auditor.code.summarize import summarize_source
from auditor.config import Config
from rules.code.ra140_diagnostic_side_effect import DiagnosticSideEffect, _Walker
from rules.code.ra170_unsafe_checkpoint_load import UnsafeCheckpointLoad

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


DIAG = textwrap.dedent('''
    import torch
    def loss_fn(x):
        x.backward()
    class T:
        def fit(self, model, opt, flag):
            for p in model.parameters():
                try:
                    pass
                except Exception:
                    if self.debug:
                        p.mul_(2)
                        loss_fn(p)
                finally:
                    with torch.random.fork_rng():
                        if flag.diag:
                            torch.randn(3)
                        else:
                            torch.randn(3)
                            opt.step()
            match flag:
                case 1:
                    if debug_mode:
                        opt.step()
                    elif diag:
                        model.eval()
            while True:
                if x: pass
                elif debug: opt.zero_grad()
            async def debug_x():
                for w in model.parameters():
                    w.data = 0
                with a, b:
                    torch.rand(2)
''')


def test_ra140_region_walk_equals_the_full_visit():
    tree = cst.parse_module(DIAG)
    rule = DiagnosticSideEffect()
    fast = [f.to_json() for f in rule.check(ModuleContext(path="t.py", source=DIAG, tree=tree, config=Config()))]
    walker = _Walker(rule, ModuleContext(path="t.py", source=DIAG, tree=tree, config=Config()))
    tree.visit(walker)  # the full libcst visit the rule used before
    assert fast == [f.to_json() for f in walker.findings]
    assert len(fast) == 7
    assert rule.applies_to_tree(ast.parse(DIAG), Config())


@pytest.mark.parametrize("source, expected", [
    ("if debug:\n    print(loss.item())\n", False),  # a region, but nothing in it can be flagged
    ("if debug:\n    opt.step()\n", True),
    ("from numpy.random import choice as pick\nif args.diag:\n    pick(3)\n", True),
    ("def debug_probe(m):\n    return m.weight.norm()\n", False),
    ("def debug_probe(m):\n    m.weight.data = 0\n", True),
    ("if logger.isEnabledFor(logging.DEBUG):\n    opt.step()\n", False),  # a call, not a flag
])
def test_ra140_tree_prefilter(source, expected):
    assert DiagnosticSideEffect().applies_to_tree(ast.parse(source), Config()) is expected


@pytest.mark.parametrize("source, expected", [
    ("import torch\nstate = torch.load(p)\n", True),
    ("from torch import load as L\nL(p)\n", True),
    ("import pickle as pk\npk.load(f)\n", True),
    ("import pickle as pk\npk.loads(f.read())\n", True),
    ("import pickle as pk\npk.loads(payload)\n", False),  # bytes from the job itself
    ('"""Use torch.load(path) here."""\nimport torch\n', False),  # only in a docstring
    ("import torch\nx = torch.save(m, p)\n", False),
    ("import torch\nx = torch.load(p, weights_only=True)\n", False),  # the safe call is not flagged
    ("import torch\nx = torch.load(p, weights_only=False)\n", True),
    ("import torch\nx = torch.load(p, **kw)\n", False),
    ("import numpy as np\nx = np.load(p)\n", False),
    ("import numpy as np\nx = np.load(p, allow_pickle=True)\n", True),
    ("import pickle\nx = pickle.loads(sock.recv())\n", False),
    ("import pickle\nx = pickle.loads(open(p, 'rb').read())\n", True),
    ("from .serialization import load\nx = load(p)\n", True),  # a project module: may be anything
    ("def load(p):\n    return 1\nx = load(p)\n", True),
    ("import json\nx = json.load(f)\n", False),
    ("import torch\ndef f(torch):\n    return torch.load(p)\n", True),  # a superset: the import binds it too
])
def test_ra170_tree_prefilter(source, expected):
    assert UnsafeCheckpointLoad().applies_to_tree(ast.parse(source), Config()) is expected


ORIGINAL_TEXT_VALIDATION = r"validat|evaluat|run_eval|do_eval|eval_model|\b_?val_|_val\b|\beval_|_eval\b|\btest\(|\btest_metrics"


@pytest.mark.parametrize("text", [
    "val_x", "aval_x", "_val_x", "a_val_x", "x_val", "x_val2", "eval_", "xeval_", "a_eval", "a_evalx", "test(",
    "atest(", "test_metrics", "mytest_metrics", "é_val_", "éval_", "(val_", "\nval_", "__val_", "x.eval_", "_val",
    "interval_ms = 3", "self.validate()", "do_eval=True", "retest(", "x.test(y)", "",
])
def test_text_validation_matches_its_plain_form(text):
    import re

    assert (patterns.TEXT_VALIDATION.search(text) is None) == (re.search(ORIGINAL_TEXT_VALIDATION, text) is None)
