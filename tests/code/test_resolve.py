"""The one name resolver: scopes, aliases, conditional and relative imports, src layouts, star imports."""

from __future__ import annotations

import ast
import textwrap

import pytest

from auditor.code.resolve import Resolver, module_name_for


def _names_at(source: str, marker: str, module: str = "pkg.train", is_package: bool = False) -> frozenset[str]:
    """Every qualified name of the expression on the line ending in `# <marker>`."""
    source = textwrap.dedent(source)
    tree = ast.parse(source)
    line = next(i for i, text in enumerate(source.splitlines(), 1) if text.rstrip().endswith(f"# {marker}"))
    resolver = Resolver(tree, module, is_package)
    node = next(n for n in ast.walk(tree) if isinstance(n, ast.Expr) and n.lineno == line)
    value = node.value.func if isinstance(node.value, ast.Call) else node.value
    return resolver.qualified_names(value)


def test_aliases_and_from_imports():
    src = """
    import torch as T
    import numpy.random
    import a.b as c
    from torch import manual_seed as s
    T.manual_seed(0)  # one
    numpy.random.seed(0)  # two
    c.f()  # three
    s(1)  # four
    """
    assert _names_at(src, "one") == {"torch.manual_seed"}
    assert _names_at(src, "two") == {"numpy.random.seed"}
    assert _names_at(src, "three") == {"a.b.f"}
    assert _names_at(src, "four") == {"torch.manual_seed"}


def test_function_scopes_shadow_module_names():
    src = """
    import torch

    def local_import():
        import numpy as torch
        torch.load("x")  # inner-import

    def local_variable(torch):
        torch.load("x")  # parameter

    def assigned():
        torch = get_backend()
        torch.load("x")  # assigned

    def untouched():
        torch.load("x")  # module

    def outer():
        import pickle as torch
        def inner():
            torch.load("x")  # nested
    """
    assert _names_at(src, "inner-import") == {"numpy.load"}
    assert _names_at(src, "parameter") == frozenset()
    assert _names_at(src, "assigned") == frozenset()
    assert _names_at(src, "module") == {"torch.load"}
    assert _names_at(src, "nested") == {"pickle.load"}


def test_global_declaration_keeps_the_module_name():
    src = """
    import torch

    def f():
        global torch
        torch = reload()
        torch.load("x")  # global
    """
    assert _names_at(src, "global") == {"torch.load"}


def test_conditional_imports_give_every_candidate():
    src = """
    try:
        from accelerate.utils import set_seed
    except ImportError:
        from transformers import set_seed
    set_seed(0)  # call
    """
    assert _names_at(src, "call") == {"accelerate.utils.set_seed", "transformers.set_seed"}


def test_relative_imports_and_module_definitions():
    src = """
    from .utils import seed_all
    from ..common import helpers
    def main():
        pass
    seed_all(0)  # rel
    helpers.x()  # up
    main()  # own
    """
    assert _names_at(src, "rel", "pkg.sub.train") == {"pkg.sub.utils.seed_all"}
    assert _names_at(src, "up", "pkg.sub.train") == {"pkg.common.helpers.x"}
    assert _names_at(src, "own", "pkg.sub.train") == {"pkg.sub.train.main"}
    assert _names_at(src, "rel", "pkg.sub", is_package=True) == {"pkg.sub.utils.seed_all"}


def test_star_import_gives_no_certain_name():
    src = """
    from torch import *
    manual_seed(0)  # star
    """
    assert _names_at(src, "star") == frozenset()


def test_unknown_names_are_themselves():
    assert _names_at("print(1)  # b\n", "b") == {"print"}


@pytest.mark.parametrize("path, expected", [
    ("pkg/train.py", ("pkg.train", False)),
    ("pkg/__init__.py", ("pkg", True)),
    ("src/pkg/train.py", ("pkg.train", False)),
    ("train.py", ("train", False)),
    ("README.md", ("", False)),
])
def test_module_name_for(path, expected):
    assert module_name_for(path) == expected


def test_training_path_uses_the_same_module_names():
    from auditor.trainpath import training_path

    files = {
        "src/pkg/__init__.py": b"",
        "src/pkg/train.py": b"from pkg.model import Net\nimport utils\n",
        "src/pkg/model.py": b"from .layers import Q\n",
        "src/pkg/layers.py": b"Q = 1\n",
        "src/pkg/utils.py": b"",
        "src/pkg/unused.py": b"",
    }
    assert training_path(files, "src/pkg/train.py") == {
        "src/pkg/__init__.py", "src/pkg/train.py", "src/pkg/model.py", "src/pkg/layers.py", "src/pkg/utils.py"}
