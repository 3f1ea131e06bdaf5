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
    incident = "all: suppressions are part of the evidence and must stay honest"
    bad = ["import torch\nstate = torch.load('ckpt.pt', weights_only=True)  # audit: ignore[RA170] trusted file  # expect: RA002\n"]
    good = ["import torch\nstate = torch.load('ckpt.pt')  # audit: ignore[RA170] our own checkpoint\n"]
