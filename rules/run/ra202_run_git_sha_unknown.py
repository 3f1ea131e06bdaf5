from auditor.findings import run_location
from auditor.rule import Rule


class RunGitShaUnknown(Rule):
    id = "RA202"
    name = "run-git-sha-unknown"
    scope = "run"
    severity = "error"
    summary = "The run's recorded git SHA is not a commit of the repository (unpushed, rebased away, or wrong repo)."
    rationale = (
        "A SHA that no longer exists is as good as none: the code cannot be read back, and every claim that "
        "'the code was the same' is unverifiable. Only checked when a repository is given (--repo)."
    )
    incident = ("To explain why one baseline was 100x worse than another, the team had to compare the code at the two runs' "
                "commits. A recorded commit that is missing from the repository (never pushed, or rebased away) makes that "
                "comparison impossible.")
    # The test harness gives these a real git repo; HEAD_SHA is replaced by its HEAD commit.
    bad = [
        {"id": "gone", "seed": 0, "config": {"lr": 0.1}, "git": {"sha": "deadbeefdeadbeefdeadbeefdeadbeefdeadbeef"}},
    ]
    good = [
        {"id": "known", "seed": 0, "config": {"lr": 0.1}, "git": {"sha": "HEAD_SHA"}},
        {"id": "no-sha-is-ra201s-job", "seed": 0, "config": {"lr": 0.1}},
    ]

    def check(self, run, context):
        if not run.git_sha:
            return
        known, note = context.sha_status(run.git_sha)
        if known is False:
            detail = f" ({note})" if note else ""
            yield self.finding(f"run {run.id} recorded git SHA {run.git_sha}, which is not in the repository{detail}",
                               run_location(run.id), {"sha": run.git_sha})
