from auditor.rule import MetaRule


class SuppressionUnused(MetaRule):
    id = "RA002"
    name = "suppression-unused"
    severity = "warning"
    summary = "An inline `# audit: ignore[RULE]` comment suppresses nothing on its line."
    rationale = (
        "A suppression outlives the code it was written for: when the hazard is fixed or moves, the stale "
        "comment stays and would silently hide the next real finding on that line. Remove it."
    )
    incident = ("A suppression that matches no finding any more says a hazard was accepted where there is none. Left in "
                "place, it would silently hide the next real finding on that line.")
    bad = ["import torch\nstate = torch.load('ckpt.pt', weights_only=True)  # audit: ignore[RA170] trusted file  # expect: RA002\n"]
    good = ["import torch\nstate = torch.load('ckpt.pt')  # audit: ignore[RA170] our own checkpoint\n"]

    # -- fix: remove the unused suppression (safe: it suppresses nothing) ---------------------------------
    fix_safety = "safe"
    fixes = [
        ("import torch\n"
         "state = torch.load('ckpt.pt', weights_only=True)  # audit: ignore[RA170] trusted file\n",
         "import torch\n"
         "state = torch.load('ckpt.pt', weights_only=True)\n"),
        ("import torch\n"
         "# audit: ignore[RA170] trusted file\n"
         "state = torch.load('ckpt.pt', weights_only=True)  # keep this comment\n",
         "import torch\n"
         "state = torch.load('ckpt.pt', weights_only=True)  # keep this comment\n"),
        ("import torch\n"
         "state = torch.load('ckpt.pt')  # noqa: E501  # audit: ignore[RA110,RA170] our own file\n",
         "import torch\n"
         "state = torch.load('ckpt.pt')  # noqa: E501  # audit: ignore[RA170] our own file\n"),
    ]

    def fix(self, finding, source):
        import libcst as cst

        from auditor.code.fix import CannotFix, Edit
        from auditor.code.suppress import MARKER
        from auditor.registry import all_rule_classes

        line, col = finding.location.line, finding.location.col
        comment = next((c for c in source.at(line, cst.Comment, col) if MARKER.search(c.value)), None)
        if comment is None:
            raise CannotFix("no suppression comment found on its line")
        match = MARKER.search(comment.value)
        written = [w.strip() for w in match.group(1).split(",") if w.strip()]
        rule = finding.evidence["rule"]
        # written as an id, or as the rule's name (looking names up imports every rule: only then)
        kept = [w for w in written if w.upper() != rule and (w.upper().startswith("RA") or
                                                              getattr(all_rule_classes().get(rule), "name", None) != w)]
        if kept == written:
            raise CannotFix(f"the suppression does not name {finding.evidence['rule']}")
        if kept:
            text = f"{comment.value[:match.start(1)]}{','.join(kept)}{comment.value[match.end(1):]}"
            return Edit(source.replace(comment, cst.Comment(text)), safe=True)
        text = comment.value[:comment.value.rfind("#", 0, match.start())].rstrip()  # another tool's comment before it
        holder = source.parent(comment)
        if text not in ("", "#"):
            return Edit(source.replace(comment, cst.Comment(text)), safe=True)
        if isinstance(holder, cst.TrailingWhitespace):
            return Edit(source.replace(holder, holder.with_changes(whitespace=cst.SimpleWhitespace(""), comment=None)),
                        safe=True)
        if isinstance(holder, cst.EmptyLine):
            return Edit(source.replace(holder, cst.RemoveFromParent()), safe=True)
        raise CannotFix("the suppression comment is in a place the fixer does not edit")
