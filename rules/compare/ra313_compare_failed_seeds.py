from auditor.compare.groups import run_seed
from auditor.rule import CompareRule
from auditor.compare.examples import group


class CompareFailedSeeds(CompareRule):
    id = "RA313"
    name = "compare-failed-seeds"
    severity = "warning"
    summary = ("Runs left out of the comparison: failed, killed or still running, without a score, repeats of a "
               "seed (deduplicated), or seeds the other side does not have.")
    rationale = (
        "A failed run's partial numbers are not a result, and dropping it silently leaves the surviving seeds "
        "to speak for a condition that half failed (often for infrastructure reasons: node failures, OOM, a "
        "hub outage). Seeds present on one side only make the sides different samples. Every run left out is "
        "named here once, and none of them takes part in the validity checks or the statistics."
    )
    incident = ("Two seeds died mid-run (exit 120, an out-of-memory error, a hub outage), and their partial numbers nearly "
                "entered the comparison as model verdicts. An infrastructure failure is not a result about the model.")
    bad = [
        {"baseline": group("q101", [0.0097, 0.0095, 0.0099, 0.0098], metric="val_mse"),
         "treatment": group("q201", [1.704, 1.105, 0.9, 1.2], states={2: ("failed", 120), 3: ("failed", 120)}, metric="val_mse"),
         "metric": "val_mse"},
        {"baseline": group("base", [0.30, 0.31, 0.29, 0.30, 0.31]), "treatment": group("fs", [0.32, 0.33, 0.31]),
         "metric": "val/acc"},
    ]
    bad += [
        # seed 0 re-run on the treatment side: one result per seed is kept, the other is named
        {"baseline": group("ls0", [0.30, 0.31, 0.29]),
         "treatment": group("ls0.1", [0.30, 0.31, 0.29]) + [
             {"id": "ls0.1-s0-rerun", "group": "ls0.1", "seed": 0, "config": {"lr": 3e-4, "seed": 0},
              "metrics": {"val/acc": [[100, 0.30]]}}],
         "metric": "val/acc"},
    ]
    good = [
        {"baseline": group("base", [0.30, 0.31, 0.29]), "treatment": group("fs", [0.32, 0.33, 0.31]),
         "metric": "val/acc"},
        # unseeded repeats cannot be "missing" a seed
        {"baseline": group("b", [0.1247, 0.0831, 0.1047], metric="nrmse", seeded=False),
         "treatment": group("t", [0.1, 0.09, 0.11, 0.1], metric="nrmse", seeded=False), "metric": "nrmse"},
    ]

    def check(self, subject):
        if not subject.excluded:
            return
        parts, evidence = [], {}
        for label in (subject.baseline_label, subject.treatment_label):
            mine = [e for e in subject.excluded if e.side == label]
            if mine:
                parts.append(f"{label}: " + ", ".join(e.describe(subject.config) for e in mine))
                evidence[label] = {e.run.id: {"reason": e.reason, "state": e.run.state, "exit_code": e.run.exit_code,
                                              "seed": run_seed(e.run, subject.config), "note": e.note} for e in mine}
        reasons = {e.reason for e in subject.excluded}
        notes = []
        if reasons & {"failed", "killed", "running", "no score", "non-finite score"}:
            notes.append("partial numbers of failed or unfinished runs are not results")
        if "seed only on one side" in reasons:
            notes.append("the sides are not the same seed sample")
        notes += subject.selection.notes
        yield self.finding(f"left out of the comparison: {'; '.join(parts)} ({'; '.join(notes)})", subject.location,
                           {"excluded": evidence, "dedupe": subject.selection.notes})
