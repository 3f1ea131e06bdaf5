from auditor.rule import MetaRule


class RuleCrashed(MetaRule):
    id = "RA004"
    name = "rule-crashed"
    severity = "error"
    summary = "A rule raised an exception on one input (a file, the project, a run, a comparison, a doc); its verdict is missing."
    rationale = (
        "A rule that crashes says nothing, and nothing is not the same as \"no finding\": a pre-commit hook or a "
        "nightly that passed over the crash would report a clean bill of health the rule never gave. The other "
        "rules' findings are still reported; this one fails the command until the rule is fixed. The evidence "
        "names the rule, the exception and where it was raised; AUDITOR_DEBUG=1 shows the full traceback."
    )
    incident = "all: a verdict that silently goes missing is worse than a wrong one"
