from auditor.compare.groups import run_seed
from auditor.compare.selection import LOST_REASONS
from auditor.rule import CompareRule
from auditor.compare.examples import group


class CompareFailedSeeds(CompareRule):
    id = "RA313"
    name = "compare-failed-seeds"
    severity = "warning"
    summary = ("Runs left out of the comparison: failed, killed or still running, without a score, with a "
               "non-finite score (diverged), repeats of a seed (deduplicated), or seeds the other side does not "
               "have. At `lost_severity` (error) when a side lost seeds that diverged or failed: then the effect is "
               "not supported.")
    rationale = (
        "A failed run's partial numbers are not a result, and dropping it silently leaves the surviving seeds "
        "to speak for a condition that half failed. A seed that diverged (its final score is NaN or inf) or "
        "failed is not missing data either: it is evidence about its side, since the treatment may be what made "
        "training blow up, and an effect computed on the seeds that survived is biased towards them. So a "
        "comparison whose side lost seeds that way is 'not supported' (the reason names the side) and this "
        "finding is an error, whatever the surviving seeds say; re-run the seeds, or find out why they failed. "
        "Runs that are merely missing (still running, never logged the metric, a seed the other side lacks, a "
        "repeat) stay a warning. Seeds present on one side only make the sides different samples. Every run "
        "left out is named here once, and none of them takes part in the validity checks or the statistics."
    )
    incident = ("Two seeds died mid-run (exit 120, an out-of-memory error, a hub outage), and their partial numbers nearly "
                "entered the comparison as model verdicts. Their partial numbers are not a result, and the two "
                "surviving seeds are not the condition's result either.")
    params = {"lost_severity": "error"}
    bad = [
        {"baseline": group("q101", [0.0097, 0.0095, 0.0099, 0.0098], metric="val_mse"),
         "treatment": group("q201", [1.704, 1.105, 0.9, 1.2], states={2: ("failed", 120), 3: ("failed", 120)}, metric="val_mse"),
         "metric": "val_mse"},
        {"baseline": group("base", [0.30, 0.31, 0.29, 0.30, 0.31]), "treatment": group("fs", [0.32, 0.33, 0.31]),
         "metric": "val/acc"},
    ]
    bad += [
        # seed 3 of the treatment diverged (its final loss is NaN): the other five look better, but the
        # comparison is not supported, and this is an error
        {"baseline": group("base", [1.20, 1.25, 1.18, 1.22, 1.30, 1.21], metric="val/loss"),
         "treatment": group("lr2x", [1.10, 1.12, 1.15, float("nan"), 1.20, 1.19], metric="val/loss"),
         "metric": "val/loss"},
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
        # a crashed try of a seed that was run again and kept is superseded, not lost
        kept = {label: {_seed_key(u.seed) for u in subject.units(label) if u.seed is not None}
                for label in (subject.baseline_label, subject.treatment_label)}
        lost = {label: [e.run.id for e in subject.excluded if e.side == label and e.reason in LOST_REASONS
                        and _seed_key(run_seed(e.run, subject.config)) not in kept[label] - {None}]
                for label in (subject.baseline_label, subject.treatment_label)}
        lost = {label: ids for label, ids in lost.items() if ids}
        notes = []
        if lost:
            notes.append(f"seeds diverged/failed on {' and '.join(lost)}: evidence about that side, not missing "
                         "data, so the surviving seeds cannot support the effect")
        if reasons & {"failed", "killed", "running", "no score", "non-finite score"}:
            notes.append("partial numbers of failed or unfinished runs are not results")
        if "seed only on one side" in reasons:
            notes.append("the sides are not the same seed sample")
        notes += subject.selection.notes
        facts = {"excluded": evidence, "dedupe": subject.selection.notes, **({"lost": lost} if lost else {})}
        # lost seeds raise it to `lost_severity`, unless the configuration set RA313's severity
        severity = str(self.options["lost_severity"]) if lost and self.level == self.severity else None
        yield self.finding(f"left out of the comparison: {'; '.join(parts)} ({'; '.join(notes)})", subject.location,
                           facts, severity=severity)


def _seed_key(seed):
    """Seeds as the table matches them (0 and 0.0 and "0" are one seed), None for a run without one."""
    return None if seed is None else str(seed).removesuffix(".0")
