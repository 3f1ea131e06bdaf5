from auditor.findings import run_location
from auditor.rule import Rule


class RunGitShaMissing(Rule):
    id = "RA201"
    name = "run-git-sha-missing"
    scope = "run"
    severity = "warning"
    summary = "The run recorded no git SHA: nobody can tell which code produced its numbers."
    rationale = (
        "Without the commit, the code that ran cannot be recovered, scanned or diffed against another run; "
        "a regression between two 'identical' baselines cannot be traced to a change."
    )
    incident = ("A baseline got 110-175x worse between two rounds of experiments, and the runs' recorded git SHAs were the "
                "only way to find the months of changes in between. A run with no SHA would have left that regression "
                "unexplained.")
    bad = [
        {"id": "no-git", "seed": 0, "config": {"lr": 0.1}},
        {"id": "empty-sha", "seed": 0, "config": {"lr": 0.1}, "git": {"sha": None, "dirty": False}},
    ]
    good = [
        {"id": "with-sha", "seed": 0, "config": {"lr": 0.1}, "git": {"sha": "e2dfbd8", "dirty": False}},
    ]

    def check(self, run, context):
        if not run.git_sha:
            yield self.finding(f"run {run.id} ({run.source}) recorded no git SHA: the code that produced it is unknown",
                               run_location(run.id), {"source": run.source})
