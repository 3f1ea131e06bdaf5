from auditor.compare.drift import drift_between, entry_point_of
from auditor.compare.validity import describe, side_values
from auditor.errors import InputError
from auditor.rule import Rule

SHA_Q101 = "fef8849a1c0e6d2b3f4a5b6c7d8e9f0a1b2c3d4e"
SHA_Q201 = "e2dfbd8c9b0a1f2e3d4c5b6a7f8e9d0c1b2a3f4e"


def _runs(group, sha, values):
    return [{"id": f"{group}-s{i}", "group": group, "seed": i, "git": {"sha": sha, "dirty": False},
             "config": {"strategy": "adversarial", "lr": 3.0e-4}, "metrics": {"val_mse": [[100000, v]]}}
            for i, v in enumerate(values)]


class CompareCodeDrift(Rule):
    id = "RA301"
    name = "compare-code-drift"
    scope = "compare"
    severity = "warning"
    summary = "The sides ran at different git SHAs with training-path code changes between them."
    rationale = (
        "Two runs of the 'same' configuration at different commits are two different programs. Unless the "
        "code change is the treatment, any difference in the numbers may come from the commits in between: "
        "the auditor names the changed files the training entry point reaches and the number of commits. "
        "Without --repo it can only say that the SHAs differ."
    )
    incident = ("A baseline was 110-175x worse than an \"identical\" earlier one because the commits between their SHAs had "
                "added diagnostic code to the training path. The two runs were compared as the same setup for weeks.")
    bad = [
        {"baseline": _runs("q101", SHA_Q101, [0.0097, 0.0095]), "treatment": _runs("q201", SHA_Q201, [1.704, 1.105]),
         "metric": "val_mse"},
    ]
    good = [
        {"baseline": _runs("q103", SHA_Q201, [0.0098, 0.0097]), "treatment": _runs("q201", SHA_Q201, [1.704, 1.105]),
         "metric": "val_mse"},
    ]

    def check(self, subject, context=None):
        b_shas = side_values(subject.baseline, lambda r: r.git_sha)
        t_shas = side_values(subject.treatment, lambda r: r.git_sha)
        shas = (set(b_shas) | set(t_shas)) - {"(unset)"}
        if len(shas) < 2:
            return  # one SHA (or none recorded: RA201's finding)
        b_short = {sha[:10]: ids for sha, ids in b_shas.items()}
        t_short = {sha[:10]: ids for sha, ids in t_shas.items()}
        where = f"{describe(b_short, subject.baseline_label)} vs {describe(t_short, subject.treatment_label)}"
        evidence = {"baseline_shas": b_shas, "treatment_shas": t_shas}
        if not subject.repo:
            yield self.finding(f"runs at different git SHAs ({where}); pass --repo to see which training-path "
                               f"files changed between them", subject.location, evidence)
            return
        yield from self._with_repo(subject, b_shas, t_shas, where, evidence)

    def _with_repo(self, subject, b_shas, t_shas, where, evidence):
        from auditor.vcs import Repo

        try:
            repo = Repo(subject.repo)
        except InputError as exc:
            yield self.finding(f"runs at different git SHAs ({where}); the repository could not be read: "
                               f"{exc}", subject.location, evidence)
            return
        entry = entry_point_of(subject.runs, subject.config)
        parts, drifts = [], []
        for old in sorted(s for s in b_shas if s != "(unset)"):
            for new in sorted(s for s in t_shas if s != "(unset)" and s != old):
                drift = drift_between(repo, old, new, entry)
                drifts.append(drift)
                if drift.problem:
                    parts.append(f"{old[:10]}..{new[:10]}: {drift.problem}")
                elif drift.files:
                    kind = "training-path file(s)" if drift.entry_point else "Python file(s) (no entry point known)"
                    parts.append(f"{old[:10]}..{new[:10]}: {drift.commits} commit(s), {len(drift.files)} changed "
                                 f"{kind}: {', '.join(drift.files[:8])}{' ...' if len(drift.files) > 8 else ''}")
        if not parts:
            return  # only files the training never runs (docs, other scripts) changed
        evidence["drift"] = [{"from": d.old, "to": d.new, "commits": d.commits, "files": d.files,
                              "other_files": d.other_files, "entry_point": d.entry_point, "problem": d.problem}
                             for d in drifts]
        yield self.finding(f"code differs between the sides ({where}); " + "; ".join(parts),
                           subject.location, evidence)
