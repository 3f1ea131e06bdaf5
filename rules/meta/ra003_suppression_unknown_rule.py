from auditor.rule import Rule


class SuppressionUnknownRule(Rule):
    id = "RA003"
    name = "suppression-unknown-rule"
    scope = "meta"
    severity = "warning"
    summary = "An inline `# audit: ignore[...]` comment names a rule id or name that does not exist."
    rationale = (
        "A typo in a suppression (`RA1O1`, `RA170 ` for `RA107`) suppresses nothing while looking as if it "
        "did; the reader of the code believes the hazard was reviewed."
    )
    incident = ("A suppression that names a rule that does not exist protects nothing, usually because of a typo. The finding"
                " it was meant to accept is still reported, and the comment misleads the next reader.")
    bad = ["x = 1  # audit: ignore[RA9999] typo  # expect: RA003\n"]
    good = ["import torch\nstate = torch.load('ckpt.pt')  # audit: ignore[unsafe-checkpoint-load] our own file\n"]

    def check(self, subject, context):  # emitted by the scanner's suppression pass
        return ()
