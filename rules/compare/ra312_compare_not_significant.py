from auditor.rule import Rule
from auditor.compare.examples import group


class CompareNotSignificant(Rule):
    id = "RA312"
    name = "compare-not-significant"
    scope = "compare"
    severity = "warning"
    summary = "The bootstrap confidence interval of the effect includes zero."
    rationale = (
        "With a handful of seeds, a mean difference can appear by chance. If the confidence interval of the "
        "mean delta (bootstrap over seeds, paired when seeds pair; level set by --confidence) contains zero, "
        "the seeds do not support a claim in either direction."
    )
    incident = ("A mean gain of -0.0027 with a standard deviation of 0.0171 over three seeds was read as a small effect. An "
                "interval that wide covers gains and losses alike.")
    bad = [
        {"baseline": group("r4-base", [0.300, 0.310, 0.320]),
         "treatment": group("r4-fs", [0.3084, 0.3204, 0.2931]), "metric": "val/acc"},
    ]
    good = [
        {"baseline": group("r2-base", [0.30, 0.31, 0.29]), "treatment": group("r2-fs", [0.3156, 0.3334, 0.3525]),
         "metric": "val/acc"},
    ]

    def check(self, subject, context=None):
        effect = subject.effect
        if not effect or effect.ci is None or effect.delta is None:
            return  # too few runs for an interval: RA310's finding
        lo, hi = effect.ci
        if lo <= 0 <= hi:
            yield self.finding(
                f"effect on {subject.metric} is {effect.delta:+.4g} but its {effect.level:.0%} CI "
                f"[{lo:+.4g}, {hi:+.4g}] includes 0 ({'paired' if effect.paired else 'unpaired'}, "
                f"n={len(effect.deltas) if effect.paired else f'{effect.n_baseline}+{effect.n_treatment}'})",
                subject.location,
                {"delta": effect.delta, "ci": [lo, hi], "level": effect.level, "method": effect.method,
                 "paired": effect.paired})
