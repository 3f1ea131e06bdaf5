from auditor.rule import CompareRule
from auditor.compare.examples import group


class CompareHighVariance(CompareRule):
    id = "RA315"
    name = "compare-high-variance"
    severity = "warning"
    summary = "Seed-to-seed spread is larger than the claimed effect, or a side's CV is above `cv_threshold`."
    rationale = (
        "If runs of one condition differ from each other more than the two conditions differ on average, the "
        "effect is inside the noise: more seeds, or a fix for the source of variance (an unseeded entry "
        "point), must come before any claim. With few seeds that also leaves the effect unsupported; when "
        "enough seeds make the exact test and the interval exclude chance anyway (the uncertainty of a mean "
        "shrinks with the square root of the seeds), the effect is supported and this stays a caveat."
    )
    incident = ("Identical configurations spread from 0.083 to 0.125 (a 20% coefficient of variation), and effects far "
                "smaller than that spread were reported. With that much noise, the seeds could not separate the conditions.")
    params = {"cv_threshold": 0.10}
    bad = [
        {"baseline": group("burgers", [0.1247, 0.0831, 0.1047, 0.0849], metric="nrmse", seeded=False),
         "treatment": group("burgers-ttc", [0.1100, 0.0790, 0.0950, 0.0800], metric="nrmse", seeded=False),
         "metric": "nrmse"},
        {"baseline": group("r6-base", [0.300, 0.310, 0.320]),
         "treatment": group("r6-fs", [0.3382, 0.3279, 0.2675]), "metric": "val/acc"},
    ]
    good = [
        {"baseline": group("r2-base", [0.30, 0.31, 0.29]), "treatment": group("r2-fs", [0.3156, 0.3334, 0.3525]),
         "metric": "val/acc"},
    ]

    def check(self, subject):
        effect = subject.effect
        if not effect or effect.delta is None:
            return
        parts = []
        # the same keys whichever part holds: the finding stays the same one (its fingerprint) as seeds come in
        evidence = {"noise": None, "delta": effect.delta, "cv": {}}
        noise = effect.noise
        if noise is not None and noise > abs(effect.delta):
            what = "std of the per-seed deltas" if effect.paired else "seed-to-seed std"
            parts.append(f"{what} {noise:.4g} is larger than the effect {effect.delta:+.4g}")
            evidence["noise"] = noise
        limit = float(self.options["cv_threshold"])
        for label, value in ((subject.baseline_label, effect.cv_baseline), (subject.treatment_label, effect.cv_treatment)):
            if value is not None and value > limit:
                parts.append(f"{label} CV {value:.1%} (> {limit:.0%})")
                evidence["cv"][label] = value
        if parts:
            yield self.finding(f"{subject.metric} varies too much across seeds: " + "; ".join(parts),
                               subject.location, {**evidence, "cv_threshold": limit})
