"""Where a file's top-level statements start and end, read from its text without parsing it.

A fix edits one top-level statement of a file (auditor/code/fix.py), so it needs their lines; Python's
parser gives them but builds the whole tree to do so (about 10 ms for 2,000 lines, most of a fix's cost).
This scan masks comments and string literals with one regular expression (as Python's tokenizer finds
them, left to right) and then reads the statements off the lines that start at column 0 outside brackets,
strings and backslash continuations: about five times cheaper. It agrees with `ast` on every file of the
standard library and site-packages (tests/code/test_top_level.py holds it to that on the tricky cases); on
anything it is not sure of it answers None and the caller parses.
"""

from __future__ import annotations

import re
import sys

# Comments and string literals as Python's tokenizer finds them scanning left to right (the code layout of
# auditor.code.analysis uses them too). Escapes are consumed in pairs, so an escaped quote never ends a
# string; a backslash-newline inside a string continues it. A string's prefix (r, b, f...) is left out: it
# never holds a line break, and trying it at every letter of the source would make the scan twice as slow.
_STRING_FORMS = (
    r"'''[^'\\]*(?:(?:\\[\s\S]|'(?!''))[^'\\]*)*'''",
    r'"""[^"\\]*(?:(?:\\[\s\S]|"(?!""))[^"\\]*)*"""',
    r"'[^'\\\n]*(?:\\[\s\S][^'\\\n]*)*'",
    r'"[^"\\\n]*(?:\\[\s\S][^"\\\n]*)*"',
)
COMMENT_OR_STRING = re.compile(r"#[^\n]*|(?:" + "|".join(_STRING_FORMS) + ")")
_STRING = "\x02"  # what a string literal becomes: code, and no word character (`elif"a":` stays `elif`)
_INSIDE = "\x01"  # starts a line that begins inside a string literal
_LINE_START = re.compile(r"^[^\s\x01]", re.M)  # a line starting at column 0, not inside a string
_CLAUSE = re.compile(r"(?:else|elif|except|finally)\b")  # continues the compound statement above it
# Python 3.12 lets f-strings (and 3.14 t-strings) nest quotes and span lines in their fields: not masked here.
_NESTING_STRINGS = re.compile(r"[fFtT][rR]?['\"]|[rR][fFtT]['\"]")


def nesting_strings(text: str) -> bool:
    """Does the text hold strings that COMMENT_OR_STRING may not follow (f-strings, on a Python that lets them
    nest quotes)?"""
    return sys.version_info >= (3, 12) and _NESTING_STRINGS.search(text) is not None


def _mask(match: re.Match) -> str:
    text = match.group()
    return "" if text[0] == "#" else _STRING + ("\n" + _INSIDE) * text.count("\n")


def _depth(code: str, start: int, end: int) -> int:
    """How many more brackets open than close in code[start:end]."""
    return (code.count("(", start, end) + code.count("[", start, end) + code.count("{", start, end)
            - code.count(")", start, end) - code.count("]", start, end) - code.count("}", start, end))


def top_level_spans(text: str) -> list[tuple[int, int]] | None:
    """(first line, last line) of each top-level statement, 1-based (statements sharing a line as one): a
    decorated definition from its first decorator, a compound statement to its last line of code; None when
    the text is not plainly valid Python to this scan (the caller then asks `ast`)."""
    if "\f" in text or _INSIDE in text or _STRING in text or "\0" in text or nesting_strings(text):
        return None
    code = COMMENT_OR_STRING.sub(_mask, text.replace("\r\n", "\n").replace("\r", "\n"))
    if "'" in code or '"' in code:  # a quote no string took: not a file Python reads
        return None
    firsts: list[int] = []
    depth, pos, line, decorators = 0, 0, 1, False
    for match in _LINE_START.finditer(code):
        at = match.start()
        depth += _depth(code, pos, at)
        line += code.count("\n", pos, at)
        pos = at
        if depth < 0:
            return None
        above = code[code.rfind("\n", 0, at - 1) + 1:at - 1] if at else ""
        if depth or above.rstrip(" \t").endswith("\\"):
            continue  # inside brackets, or a backslash continuation
        if decorators or _CLAUSE.match(code, at):
            if not firsts:
                return None
        else:
            firsts.append(line)
        decorators = code[at] == "@"
    if depth + _depth(code, pos, len(code)) != 0:
        return None
    lines = code.split("\n")
    first_code = next((n for n, text_line in enumerate(lines, 1) if text_line.strip()), None)
    if first_code is not None and firsts[:1] != [first_code]:  # code indented at the top: not valid Python
        return None
    spans = []
    for i, first in enumerate(firsts):
        last = firsts[i + 1] - 1 if i + 1 < len(firsts) else len(lines)
        while last > first and not lines[last - 1].strip():  # comments and blank lines: the next one's
            last -= 1
        spans.append((first, last))
    return spans
