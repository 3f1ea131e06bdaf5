from auditor.findings import run_location
from auditor.rule import Rule


class RunDirtyTree(Rule):
    id = "RA203"
    name = "run-dirty-tree"
    scope = "run"
    severity = "warning"
    summary = "The run started from a working tree with uncommitted changes: its SHA does not describe its code."
    rationale = (
        "With a dirty tree the recorded commit is only an approximation of what ran; the uncommitted part "
        "is lost unless it was saved beside the run (wandb's diff.patch, Guild's copied sources)."
    )
    incident = ("A run's recorded SHA was the evidence of which code produced it, but a run launched with uncommitted changes"
                " did not run that commit. Comparing code by SHA then points at the wrong changes.")
    bad = [
        {"id": "dirty", "seed": 0, "config": {"lr": 0.1}, "git": {"sha": "e2dfbd8", "dirty": True}},
    ]
    good = [
        {"id": "clean", "seed": 0, "config": {"lr": 0.1}, "git": {"sha": "e2dfbd8", "dirty": False}},
        {"id": "unknown-dirtiness", "seed": 0, "config": {"lr": 0.1}, "git": {"sha": "e2dfbd8"}},
    ]

    def check(self, run, context):
        if run.git_dirty:
            sha = f" at {run.git_sha}" if run.git_sha else ""
            yield self.finding(f"run {run.id} ran from a dirty working tree{sha}: uncommitted changes are not in the SHA",
                               run_location(run.id), {"sha": run.git_sha})
