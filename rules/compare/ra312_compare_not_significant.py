from auditor.rule import CompareRule
from auditor.compare.examples import group


class CompareNotSignificant(CompareRule):
    id = "RA312"
    name = "compare-not-significant"
    severity = "warning"
    summary = ("The confidence interval of the effect includes zero, or the exact sign-flip / permutation test "
               "beside it does not reach p <= 1 - confidence.")
    rationale = (
        "With a handful of seeds, a mean difference can appear by chance. If the confidence interval of the "
        "mean delta (paired by seed when seeds pair; Student t below 30 seeds, where a bootstrap interval is "
        "too narrow; level set by --confidence) contains zero, the seeds do not support a claim in either "
        "direction. An interval that excludes zero is not enough on its own: the exact permutation test, which "
        "assumes nothing about the distribution, must also give p <= 1 - confidence (when the seeds are too few "
        "for it to get there at all, that is RA310)."
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
    bad += [
        # six seeds, the t interval excludes 0, but one small negative delta: sign-flip p = 0.0625
        {"baseline": group("p6-base", [0.30, 0.31, 0.29, 0.30, 0.32, 0.31]),
         "treatment": group("p6-fs", [0.32, 0.33, 0.31, 0.32, 0.34, 0.309]), "metric": "val/acc"},
    ]
    good = [
        # three seeds that agree closely: +0.021, +0.019, +0.022 (RA310 says three cannot exclude chance)
        {"baseline": group("r2-base", [0.30, 0.31, 0.29]), "treatment": group("r2-fs", [0.321, 0.329, 0.312]),
         "metric": "val/acc"},
    ]

    def check(self, subject):
        effect = subject.effect
        if not effect or effect.ci is None or effect.delta is None:
            return  # too few runs for an interval: RA310's finding
        lo, hi = effect.ci
        if lo <= 0 <= hi:
            yield self._includes_zero(subject, effect)
            return
        test, alpha = effect.test, 1 - effect.level
        if test and test.p_min <= alpha < test.p_value:  # p_min > alpha: too few seeds, RA310's finding
            yield self.finding(
                f"effect on {subject.metric} is {effect.delta:+.4g} and its {effect.level:.0%} CI "
                f"[{lo:+.4g}, {hi:+.4g}] excludes 0 ({effect.method_name}), but the exact {test.name} test gives "
                f"p = {test.p_value:.3g} > {alpha:.3g}: the seeds do not exclude chance", subject.location,
                self._evidence(effect))

    def _includes_zero(self, subject, effect):
        lo, hi = effect.ci
        test = effect.test
        p = f"; exact {test.name} test p = {test.p_value:.3g}" if test else ""
        return self.finding(
            f"effect on {subject.metric} is {effect.delta:+.4g} but its {effect.level:.0%} CI "
            f"[{lo:+.4g}, {hi:+.4g}] includes 0 ({effect.method_name}, {'paired' if effect.paired else 'unpaired'}, "
            f"n={len(effect.deltas) if effect.paired else f'{effect.n_baseline}+{effect.n_treatment}'}){p}",
            subject.location, self._evidence(effect))

    @staticmethod
    def _evidence(effect) -> dict:
        return {"delta": effect.delta, "ci": list(effect.ci), "level": effect.level, "method": effect.method,
                "paired": effect.paired, "p_value": effect.test.p_value if effect.test else None}
