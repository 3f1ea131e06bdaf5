"""The top-level statements read off a file's text (auditor/code/top_level.py) are Python's own: on the cases
a line-by-line reading gets wrong (strings and brackets spanning lines, continuations, decorators, clauses,
line endings), and on the auditor's own source; what it cannot tell it leaves to `ast`."""

from __future__ import annotations

import ast
import sys
import textwrap
from pathlib import Path

import pytest

from auditor.code.top_level import top_level_spans


def _ast_spans(text: str) -> list[tuple[int, int]]:
    """Python's statements, those sharing a line (`a = 1; b = 2`) as one."""
    spans: list[tuple[int, int]] = []
    for stmt in ast.parse(text).body:
        first = min([stmt.lineno, *(d.lineno for d in getattr(stmt, "decorator_list", ()))])
        if spans and first <= spans[-1][1]:
            spans[-1] = (spans[-1][0], max(spans[-1][1], stmt.end_lineno))
        else:
            spans.append((first, stmt.end_lineno))
    return spans


TRICKY = {
    "strings": '''
        """A docstring
        def not_code():
        # nor this
        """
        x = 'a # not a comment'  # a comment with "quotes' in it
        y = """
        z = 1
        """ + \'\'\'
        \'\'\'
        w = "escaped \\" quote ( bracket"
        v = r"raw \\" still inside ( "
        u = "continued \\
        string ["
        t = b'bytes' + rb"raw bytes" + f"{x!r} {{ not a field"
        ''',
    "brackets and continuations": """
        data = {
        'key': [1,
        2],
        }
        total = 1 + \\
        2
        call(a,
             # a comment inside ( the call
        b)
        a = 1; b = 2
        """,
    "decorators and clauses": """
        import functools


        @functools.lru_cache(
            maxsize=None)
        # a comment between decorators
        @staticmethod
        def f(x):
            return x
        # trailing comment, column 0

            # indented comment


        if x:
            pass
        # between the branches
        elif"a" in x:
            pass
        else:
            pass
        try:
            pass
        except ValueError:
            pass
        finally:
            pass
        elsewhere = 1
        finally_ = 2
        class A: pass
        """,
    "match": """
        match command:
            case [x, y]:
                pass
            case _:
                pass
        match = 1
        """,
    "only comments": "# nothing\n\n# here\n",
    "empty": "",
    "no newline at the end": "x = 1\ny = (2,\n 3)",
}


@pytest.mark.parametrize("name", list(TRICKY))
@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
def test_the_statements_are_pythons(name, newline):
    text = textwrap.dedent(TRICKY[name]).lstrip("\n").replace("\n", newline)
    assert top_level_spans(text) == _ast_spans(text)


def test_the_auditors_own_files_agree_with_ast():
    root = Path(__file__).resolve().parents[2]
    files = sorted((root / "auditor").rglob("*.py")) + sorted((root / "tests").rglob("*.py"))
    assert len(files) > 50
    for path in files:
        text = path.read_text(encoding="utf-8")
        spans = top_level_spans(text)
        assert spans is None or spans == _ast_spans(text), path


@pytest.mark.parametrize("text", [
    "x = 1\n\fy = 2\n",  # a form feed resets the indentation
    "x = (1,\n",  # a bracket never closed
    "x = 'never closed\n",
    "  x = 1\n",  # indented at the top
    "else:\n    pass\n",
])
def test_what_it_cannot_tell_is_left_to_ast(text):
    assert top_level_spans(text) is None


@pytest.mark.skipif(sys.version_info < (3, 12), reason="f-strings nest quotes from Python 3.12")
def test_fstrings_that_may_nest_quotes_are_left_to_ast():
    assert top_level_spans('x = f"{d["k"]}"\n') is None
