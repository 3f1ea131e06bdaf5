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
    """Suppressions in real comments (tokenize: a marker inside a string literal does not count)."""
    if not has_suppressions(source):
        return []
    out = []
    pending: list[tuple[int, int, str, tuple[str, ...]]] = []  # standalone comments waiting for their line
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    except (tokenize.TokenError, SyntaxError, IndentationError):
        return []
    lines = source.splitlines()
    for tok in tokens:
        if tok.type == tokenize.COMMENT:
            match = MARKER.search(tok.string)
            if not match:
                continue
            rules = tuple(r.strip() for r in match.group(1).split(",") if r.strip())
            line, col = tok.start
            text = " ".join(tok.string.split())
            standalone = not lines[line - 1][:col].strip()
            if standalone:
                pending.append((line, col, text, rules))
            else:
                out.append(Suppression(line, line, col, rules, text))
        elif pending and tok.type not in (tokenize.NL, tokenize.NEWLINE, tokenize.COMMENT, tokenize.INDENT,
                                          tokenize.DEDENT, tokenize.ENDMARKER):
            for comment_line, col, text, rules in pending:
                out.append(Suppression(tok.start[0], comment_line, col, rules, text))
            pending = []
    for comment_line, col, text, rules in pending:  # at the end of the file: covers nothing but itself
        out.append(Suppression(comment_line, comment_line, col, rules, text))
    return out


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
