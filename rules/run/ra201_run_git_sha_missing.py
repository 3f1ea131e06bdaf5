from auditor.findings import run_location
from auditor.rule import RunRule


class RunGitShaMissing(RunRule):
    id = "RA201"
    name = "run-git-sha-missing"
    severity = "warning"
    summary = "The run recorded no git SHA: nobody can tell which code produced its numbers."
    rationale = (
        "Without the commit, the code that ran cannot be recovered, scanned or diffed against another run; "
        "a regression between two 'identical' baselines cannot be traced to a change."
    )
    incident = "q201-sha-regression.md: the SHAs of q101 and q201 were the only way to find months of changes"
    bad = [
        {"id": "no-git", "seed": 0, "config": {"lr": 0.1}},
        {"id": "empty-sha", "seed": 0, "config": {"lr": 0.1}, "git": {"sha": None, "dirty": False}},
    ]
    good = [
        {"id": "with-sha", "seed": 0, "config": {"lr": 0.1}, "git": {"sha": "e2dfbd8", "dirty": False}},
    ]

    def check(self, run, _context):
        if not run.git_sha:
            yield self.finding(f"run {run.id} ({run.source}) recorded no git SHA: the code that produced it is unknown",
                               run_location(run.id), {"source": run.source})
