"""Inline suppressions: `# audit: ignore[RA101] reason` (or `ignore[RA101,RA110]`).

A suppression covers findings of the named rules on its own line; a comment standing alone on a line
covers the next line of code. Unused suppressions (RA002) and unknown rule ids (RA003) are reported,
so stale ones do not pile up.
"""

from __future__ import annotations

import io
import re
import tokenize
from dataclasses import dataclass

from auditor.code.top_level import COMMENT_OR_STRING, nesting_strings
from auditor.config import Config
from auditor.findings import Finding, code_location

MARKER = re.compile(r"audit:\s*ignore\[([^\]]*)\]")
_QUICK = re.compile(r"audit:\s*ignore\[")


@dataclass(frozen=True)
class Suppression:
    line: int  # the line of code it covers
    comment_line: int  # where the comment is
    col: int
    rules: tuple[str, ...]  # as written (ids or names)
    text: str  # the comment, normalized

    def to_json(self) -> list:
        return [self.line, self.comment_line, self.col, list(self.rules), self.text]

    @classmethod
    def from_json(cls, data: list) -> "Suppression":
        return cls(data[0], data[1], data[2], tuple(data[3]), data[4])


def has_suppressions(source: str) -> bool:
    return _QUICK.search(source) is not None


def parse_suppressions(source: str) -> list[Suppression]:
    """Suppressions in real comments (a marker inside a string literal does not count)."""
    if not has_suppressions(source):
        return []
    comments = _marked_comments(source)
    lines = source.split("\n")
    out = []
    for line, col, comment in comments:
        match = MARKER.search(comment)
        rules = tuple(r.strip() for r in match.group(1).split(",") if r.strip())
        text = " ".join(comment.split())
        covered = _next_code_line(lines, line) if not lines[line - 1][:col].strip() else line
        out.append(Suppression(covered, line, col, rules, text))
    return out


def _marked_comments(source: str) -> list[tuple[int, int, str]]:
    """(line, column, text) of every comment holding a marker. Comments are told from strings by one regular
    expression (top_level.COMMENT_OR_STRING), or by the tokenizer where that cannot follow the strings."""
    if nesting_strings(source):
        try:
            tokens = tokenize.generate_tokens(io.StringIO(source).readline)
            return [(*tok.start, tok.string) for tok in tokens if tok.type == tokenize.COMMENT and
                    MARKER.search(tok.string)]
        except (tokenize.TokenError, SyntaxError, IndentationError):
            return []
    out = []
    for match in COMMENT_OR_STRING.finditer(source):
        start = match.start()
        if source[start] == "#" and MARKER.search(match.group()):
            line_start = source.rfind("\n", 0, start) + 1
            out.append((source.count("\n", 0, start) + 1, start - line_start, match.group().rstrip("\r")))
    return out


def _next_code_line(lines: list[str], line: int) -> int:
    """The line a comment standing alone on `line` covers: the next one holding code (itself at the end)."""
    for number in range(line + 1, len(lines) + 1):
        text = lines[number - 1].strip()
        if text and not text.startswith("#"):
            return number
    return line


def apply_suppressions(findings: list[Finding], suppressions: dict[str, list[Suppression]], config: Config) -> list[Finding]:
    """Drop suppressed findings; add RA002 for unused suppressions and RA003 for unknown rule ids."""
    from auditor.code.analysis import meta_rule

    if not suppressions:
        return findings
    from auditor.registry import all_rule_classes, scope_rule_classes

    known = scope_rule_classes(("code", "meta"), tuple(config.plugins))
    written = {w for items in suppressions.values() for s in items for w in s.rules}
    if any(w.upper() not in known and w not in {c.name for c in known.values()} for w in written):
        known = all_rule_classes(tuple(config.plugins))  # every scope, before calling a rule unknown
    by_name = {cls.name: rid for rid, cls in known.items()}
    unused_rule = meta_rule(config, "RA002")
    unknown_rule = meta_rule(config, "RA003")
    kept, extra = [], []
    wanted: dict[tuple[str, int], dict[str, Suppression]] = {}
    for path, items in suppressions.items():
        for s in items:
            for written in s.rules:
                rid = written.upper() if written.upper() in known else by_name.get(written)
                if rid is None:
                    extra.append(unknown_rule.finding(
                        f"suppression names unknown rule {written!r}", code_location(path, s.comment_line, s.col),
                        {"rule": written}, anchor=s.text))
                else:
                    wanted.setdefault((path, s.line), {})[rid] = s
    used: set[tuple[str, int, str]] = set()
    for f in findings:
        key = (f.location.path, f.location.line)
        s = wanted.get(key, {}).get(f.rule) if key[0] is not None else None
        if s is None:
            kept.append(f)
        else:
            used.add((key[0], key[1], f.rule))
    for (path, line), rules in sorted(wanted.items()):
        for rid, s in sorted(rules.items()):
            if (path, line, rid) not in used and config.is_selected(rid, path):
                extra.append(unused_rule.finding(
                    f"suppression of {rid} matches no finding on line {line}; remove it",
                    code_location(path, s.comment_line, s.col), {"rule": rid}, anchor=s.text))
    return kept + [f for f in extra if config.is_selected(f.rule, f.location.path)]
