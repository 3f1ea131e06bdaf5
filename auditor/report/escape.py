"""Text that came from input (run ids, groups, metric names, paths, messages) shown safely.

- `printable`: control and format characters (ANSI escapes, RLO and other bidi overrides, zero-width
  characters) shown as `\\x1b`, `\\u202e`...: a terminal never interprets them, a reader sees they are there.
- `md_text` / `md_code`: Markdown that renders input as the characters it is (no link, image, raw HTML,
  heading or table cell can be injected); `Markdown` marks text the auditor wrote itself.
"""

from __future__ import annotations

import re
import unicodedata

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+!|~])")


class Markdown(str):
    """Markdown the auditor composed (tables, emphasis): rendered as it is."""


def _escaped(char: str) -> str:
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def printable(text: object, keep_newlines: bool = False) -> str:
    out = []
    for char in str(text):
        if keep_newlines and char == "\n":
            out.append(char)
        elif unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp"):
            out.append(_escaped(char))
        else:
            out.append(char)
    return "".join(out)


def md_text(text: object) -> str:
    """Input as Markdown text: every character that Markdown or HTML could interpret is escaped."""
    shown = printable(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MD_SPECIAL.sub(r"\\\1", shown)


def md_code(text: object) -> str:
    """Input as a code span inside a table cell: a fence longer than any backtick run inside, pipes escaped."""
    shown = printable(text).replace("|", "\\|")
    longest = max((len(run) for run in re.findall(r"`+", shown)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if longest or shown.startswith(" ") or shown.endswith(" ") else ""
    return f"{fence}{pad}{shown}{pad}{fence}"
