from auditor.rule import CompareRule
from auditor.compare.examples import group


class CompareSingleSeed(CompareRule):
    id = "RA310"
    name = "compare-single-seed"
    severity = "warning"
    summary = "A side of the comparison rests on too few seeds (fewer than `min_seeds` usable results, default 3)."
    rationale = (
        "Seed-to-seed spread in fine-tuning and RL is often as large as the effects being claimed: the same "
        "future-seed config was strongly positive on one seed and strongly negative on another. One run per "
        "side cannot tell an effect from noise, and no confidence interval can be computed. Two seeds per side "
        "give an interval so wide (Student t with one degree of freedom) that it says little, and an exact "
        "sign test over two seeds cannot go below p = 0.5: three seeds is the least that can back a claim."
    )
    incident = ("A gain of +0.0025 from a single seed was reported as a result, and later rounds promoted single-seed quick "
                "runs as confirmed gains. With seed-to-seed spread larger than the gain, one seed cannot support the claim.")
    params = {"min_seeds": 3}
    bad = [
        {"baseline": group("r7-base", [0.412]), "treatment": group("r7-fs", [0.4145]), "metric": "val/acc"},
        # three seeds planned, two died: one usable run is left on the treatment side
        {"baseline": group("base", [0.41, 0.42, 0.40]),
         "treatment": group("fs", [0.43, None, None], states={1: ("failed", 120), 2: ("failed", 120)}),
         "metric": "val/acc"},
    ]
    bad += [
        # two seeds, both deltas positive: the percentile bootstrap said "supported", a t-test gives p = 0.105
        {"baseline": group("two-base", [0.300, 0.310]), "treatment": group("two-fs", [0.305, 0.317]),
         "metric": "val/acc"},
    ]
    good = [
        {"baseline": group("r2-base", [0.30, 0.31, 0.29]), "treatment": group("r2-fs", [0.3156, 0.3334, 0.3525]),
         "metric": "val/acc"},
    ]

    def check(self, subject):
        need = int(self.options["min_seeds"])
        thin = {label: len(subject.units(label)) for label in (subject.baseline_label, subject.treatment_label)}
        thin = {label: n for label, n in thin.items() if n < need}
        if not thin:
            return
        parts = [f"{label} has {n} usable seed{'s' if n != 1 else ''}" for label, n in thin.items()]
        yield self.finding(
            f"the claim rests on too few seeds: {'; '.join(parts)} (at least {need} per side are needed for a "
            f"spread and a confidence interval)", subject.location, {"usable_runs": thin, "min_seeds": need})
