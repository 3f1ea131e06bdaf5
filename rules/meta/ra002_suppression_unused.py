from auditor.rule import Rule


class SuppressionUnused(Rule):
    id = "RA002"
    name = "suppression-unused"
    scope = "meta"
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

    def check(self, subject, context):  # emitted by the scanner's suppression pass
        return ()
