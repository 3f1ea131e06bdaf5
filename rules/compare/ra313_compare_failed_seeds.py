from auditor.compare.groups import is_failed, is_unfinished, run_seed, seeds_of
from auditor.rule import Rule
from auditor.compare.examples import group


class CompareFailedSeeds(Rule):
    id = "RA313"
    name = "compare-failed-seeds"
    scope = "compare"
    severity = "warning"
    summary = "Runs of the comparison failed, were killed or are still running, or seeds of one side are missing on the other."
    rationale = (
        "A failed run's partial numbers are not a result, and dropping it silently leaves the surviving seeds "
        "to speak for a condition that half failed (often for infrastructure reasons: node failures, OOM, a "
        "hub outage). Seeds present on one side only make the sides different samples."
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
    good = [
        {"baseline": group("base", [0.30, 0.31, 0.29]), "treatment": group("fs", [0.32, 0.33, 0.31]),
         "metric": "val/acc"},
        # unseeded repeats cannot be "missing" a seed
        {"baseline": group("b", [0.1247, 0.0831, 0.1047], metric="nrmse", seeded=False),
         "treatment": group("t", [0.1, 0.09, 0.11, 0.1], metric="nrmse", seeded=False), "metric": "nrmse"},
    ]

    def check(self, subject, context=None):
        parts, evidence = [], {}
        for label, side in ((subject.baseline_label, subject.baseline), (subject.treatment_label, subject.treatment)):
            bad = [r for r in side if is_failed(r) or is_unfinished(r)]
            if bad:
                parts.append(f"{label}: " + ", ".join(_describe(r, subject.config) for r in bad))
                evidence[label] = {r.id: {"state": r.state, "exit_code": r.exit_code,
                                          "seed": run_seed(r, subject.config)} for r in bad}
        b_seeds = seeds_of(subject.baseline, subject.config)
        t_seeds = seeds_of(subject.treatment, subject.config)
        if b_seeds and t_seeds:
            only_b = [s for s in b_seeds if s not in t_seeds]
            only_t = [s for s in t_seeds if s not in b_seeds]
            for label, only in ((subject.baseline_label, only_b), (subject.treatment_label, only_t)):
                if only:
                    parts.append(f"seed(s) {', '.join(map(str, only))} only in {label}")
            if only_b or only_t:
                evidence["unmatched_seeds"] = {subject.baseline_label: only_b, subject.treatment_label: only_t}
        if parts:
            notes = []
            if any(k != "unmatched_seeds" for k in evidence):
                notes.append("partial numbers of failed or unfinished runs are not results")
            if "unmatched_seeds" in evidence:
                notes.append("the sides are not the same seed sample")
            yield self.finding("; ".join(parts) + f" ({'; '.join(notes)})", subject.location, evidence)

def _describe(run, config):
    seed = run_seed(run, config)
    state = run.state or "failed"
    code = f", exit {run.exit_code}" if run.exit_code not in (None, 0) else ""
    return f"{run.id}{f' (seed {seed})' if seed is not None else ''} {state}{code}"
