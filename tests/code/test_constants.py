"""Names that hold one literal wherever a function reads them (auditor/code/constants.py): every other way of
binding a name makes it unknown, and only branches a constant never takes are dead."""

from __future__ import annotations

import ast

from auditor.code.constants import dead_spans, literal_constants

MODULE = '''
EPOCHS = 10
DEBUG = False
REBOUND = 1
TWICE = 1
TWICE = 2

def rebind():
    global REBOUND
    REBOUND = 2

def main(shadowed, EPOCHS_ARG=3):
    n = 20
    m = 5
    m = 6
    for i in range(3):
        pass
    import os
    do_test = False
    k = 7
    with open("f") as handle:
        pass
    def inner():
        nonlocal k
        k = 1
    total: int = 4
    if (walrus := 3):
        pass
    shadowed = 1
    return n, EPOCHS, DEBUG, REBOUND, TWICE, os, handle, i, total, walrus

def reads_module(EPOCHS):
    return EPOCHS, DEBUG
'''


def _scopes():
    tree = ast.parse(MODULE)
    functions = {node.name: node for node in tree.body if isinstance(node, ast.FunctionDef)}
    return tree, functions


def test_a_name_bound_once_to_a_literal_is_that_literal():
    tree, functions = _scopes()
    found = literal_constants(functions["main"], tree)
    assert found["n"] == 20 and found["do_test"] is False and found["total"] == 4
    assert found["EPOCHS"] == 10 and found["DEBUG"] is False  # the module's, bound nowhere in main


def test_every_other_binding_makes_a_name_unknown():
    tree, functions = _scopes()
    found = literal_constants(functions["main"], tree)
    # assigned twice, a loop target, an import, a `with` target, rebound by a nested def (nonlocal), a walrus,
    # a parameter assigned a literal, a module name some function declares global, one assigned twice
    for name in ("m", "i", "os", "handle", "k", "walrus", "shadowed", "REBOUND", "TWICE"):
        assert name not in found, name


def test_a_parameter_hides_the_module_constant_of_its_name():
    tree, functions = _scopes()
    found = literal_constants(functions["reads_module"], tree)
    assert "EPOCHS" not in found and found["DEBUG"] is False


def test_module_scope_keeps_its_own_constants_but_not_global_ones():
    tree, _ = _scopes()
    found = literal_constants(tree, tree)
    assert found == {"EPOCHS": 10, "DEBUG": False}


def test_dead_spans_are_the_branches_a_constant_test_never_takes():
    source = '''
def main(flag):
    do_test = False
    verbose = 1
    if do_test:
        evaluate()
    if not do_test:
        train()
    else:
        never()
    if verbose:
        log()
    else:
        quiet()
    if flag:
        maybe()
'''
    tree = ast.parse(source)
    main = tree.body[0]
    spans = dead_spans(main, literal_constants(main, tree))
    assert sorted(spans) == [(6, 6), (10, 10), (14, 14)]


def test_a_nested_def_reads_its_enclosing_functions_names_before_the_modules():
    source = '''
N = 5
STEPS = 7

def outer(N):
    every = 3
    def train():
        return N, every, STEPS
    return train
'''
    tree = ast.parse(source)
    outer = tree.body[2]
    train = outer.body[1]
    found = literal_constants(train, tree, (outer,))
    assert "N" not in found  # outer's parameter, not the module's 5
    assert found["every"] == 3 and found["STEPS"] == 7


def test_a_star_import_may_rebind_every_module_name():
    tree = ast.parse("EPOCHS = 10\nfrom settings import *\n\ndef main():\n    return EPOCHS\n")
    assert literal_constants(tree.body[2], tree) == {}
