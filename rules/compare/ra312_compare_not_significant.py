from auditor.rule import CompareRule
from auditor.compare.examples import group


class CompareNotSignificant(CompareRule):
    id = "RA312"
    name = "compare-not-significant"
    severity = "warning"
    summary = "The confidence interval of the effect includes zero."
    rationale = (
        "With a handful of seeds, a mean difference can appear by chance. If the confidence interval of the "
        "mean delta (paired by seed when seeds pair; Student t below 30 seeds, where a bootstrap interval is "
        "too narrow; level set by --confidence) contains zero, the seeds do not support a claim in either "
        "direction. The message also gives the exact permutation test's p-value."
    )
    incident = ("A mean gain of -0.0027 with a standard deviation of 0.0171 over three seeds was read as a small effect. An "
                "interval that wide covers gains and losses alike.")
    bad = [
        {"baseline": group("r4-base", [0.300, 0.310, 0.320]),
         "treatment": group("r4-fs", [0.3084, 0.3204, 0.2931]), "metric": "val/acc"},
        # three seeds, all deltas positive, but t-test p = 0.37: the percentile bootstrap excluded 0
        {"baseline": group("p34-base", [0.300, 0.310, 0.320]),
         "treatment": group("p34-fs", [0.301, 0.311, 0.340]), "metric": "val/acc"},
    ]
    bad += [
        # future-seed R2, "strongly positive": +0.0156, +0.0234, +0.0625 on three seeds, t-test p = 0.14
        {"baseline": group("r2-base", [0.30, 0.31, 0.29]), "treatment": group("r2-fs", [0.3156, 0.3334, 0.3525]),
         "metric": "val/acc"},
    ]
    good = [
        # three seeds that agree closely: +0.021, +0.019, +0.022
        {"baseline": group("r2-base", [0.30, 0.31, 0.29]), "treatment": group("r2-fs", [0.321, 0.329, 0.312]),
         "metric": "val/acc"},
    ]

    def check(self, subject):
        effect = subject.effect
        if not effect or effect.ci is None or effect.delta is None:
            return  # too few runs for an interval: RA310's finding
        lo, hi = effect.ci
        if lo <= 0 <= hi:
            test = effect.test
            p = f"; exact {test.name} test p = {test.p_value:.3g}" if test else ""
            yield self.finding(
                f"effect on {subject.metric} is {effect.delta:+.4g} but its {effect.level:.0%} CI "
                f"[{lo:+.4g}, {hi:+.4g}] includes 0 ({effect.method_name}, {'paired' if effect.paired else 'unpaired'}, "
                f"n={len(effect.deltas) if effect.paired else f'{effect.n_baseline}+{effect.n_treatment}'}){p}",
                subject.location,
                {"delta": effect.delta, "ci": [lo, hi], "level": effect.level, "method": effect.method,
                 "paired": effect.paired, "p_value": test.p_value if test else None})
