from auditor.rule import Rule
from auditor.compare.examples import group


class CompareSingleSeed(Rule):
    id = "RA310"
    name = "compare-single-seed"
    scope = "compare"
    severity = "warning"
    summary = "A side of the comparison rests on one seed (fewer than `min_seeds` usable runs)."
    rationale = (
        "Seed-to-seed spread in fine-tuning and RL is often as large as the effects being claimed: the same "
        "future-seed config was strongly positive on one seed and strongly negative on another. One run per "
        "side cannot tell an effect from noise, and no confidence interval can be computed."
    )
    incident = ("A gain of +0.0025 from a single seed was reported as a result, and later rounds promoted single-seed quick "
                "runs as confirmed gains. With seed-to-seed spread larger than the gain, one seed cannot support the claim.")
    params = {"min_seeds": 2}
    bad = [
        {"baseline": group("r7-base", [0.412]), "treatment": group("r7-fs", [0.4145]), "metric": "val/acc"},
        # three seeds planned, two died: one usable run is left on the treatment side
        {"baseline": group("base", [0.41, 0.42, 0.40]),
         "treatment": group("fs", [0.43, None, None], states={1: ("failed", 120), 2: ("failed", 120)}),
         "metric": "val/acc"},
    ]
    good = [
        {"baseline": group("r2-base", [0.30, 0.31, 0.29]), "treatment": group("r2-fs", [0.3156, 0.3334, 0.3525]),
         "metric": "val/acc"},
    ]

    def check(self, subject, context=None):
        need = int(self.options["min_seeds"])
        thin = {label: len(subject.scored(side))
                for label, side in ((subject.baseline_label, subject.baseline),
                                    (subject.treatment_label, subject.treatment))}
        thin = {label: n for label, n in thin.items() if n < need}
        if not thin:
            return
        parts = [f"{label} has {n} usable run{'s' if n != 1 else ''}" for label, n in thin.items()]
        yield self.finding(
            f"the claim rests on too few seeds: {'; '.join(parts)} (at least {need} per side are needed for a "
            f"spread and a confidence interval)", subject.location, {"usable_runs": thin, "min_seeds": need})
