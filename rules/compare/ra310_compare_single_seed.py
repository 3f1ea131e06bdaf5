from auditor.rule import CompareRule
from auditor.compare import stats
from auditor.compare.examples import group


class CompareSingleSeed(CompareRule):
    id = "RA310"
    name = "compare-single-seed"
    severity = "warning"
    summary = ("A side of the comparison rests on too few seeds (fewer than `min_seeds` usable results, default 3), "
               "or on too few for the exact sign-flip / permutation test to reach p <= 1 - confidence at all.")
    rationale = (
        "Seed-to-seed spread in fine-tuning and RL is often as large as the effects being claimed: the same "
        "future-seed config was strongly positive on one seed and strongly negative on another. One run per "
        "side cannot tell an effect from noise, and no confidence interval can be computed. Two seeds per side "
        "give an interval so wide (Student t with one degree of freedom) that it says little, and an exact "
        "sign test over two seeds cannot go below p = 0.5. Even when every seed moves the same way, the exact "
        "sign-flip test over n paired seeds cannot go below 2 / 2^n (0.25 with 3 seeds, 0.0625 with 5): below 6 "
        "paired seeds it cannot exclude chance at 95%, however narrow the t interval (three identical deltas give a "
        "zero-width one). Unpaired, the permutation test over m and n runs cannot go below 2 / C(m+n, n): 2/35 = "
        "0.057 with 3 and 4 runs, 2/70 = 0.029 with 4 per side."
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
    bad += [
        # three identical deltas of +0.01: a zero-width t interval, but the sign-flip test's p is 0.25
        {"baseline": group("eq-base", [0.50, 0.25, 0.75]), "treatment": group("eq-fs", [0.51, 0.26, 0.76]),
         "metric": "val/acc"},
    ]
    good = [
        # six seeds that agree: the sign-flip test can reach p = 2/64 = 0.031
        {"baseline": group("r2-base", [0.30, 0.31, 0.29, 0.30, 0.32, 0.31]),
         "treatment": group("r2-fs", [0.321, 0.329, 0.312, 0.318, 0.341, 0.330]), "metric": "val/acc"},
    ]

    def check(self, subject):
        need = int(self.options["min_seeds"])
        thin = {label: len(subject.units(label)) for label in (subject.baseline_label, subject.treatment_label)}
        thin = {label: n for label, n in thin.items() if n < need}
        if not thin:
            yield from self._cannot_exclude_chance(subject)
            return
        parts = [f"{label} has {n} usable seed{'s' if n != 1 else ''}" for label, n in thin.items()]
        yield self.finding(
            f"the claim rests on too few seeds: {'; '.join(parts)} (at least {need} per side are needed for a "
            f"spread and a confidence interval)", subject.location, {"usable_runs": thin, "min_seeds": need})

    def _cannot_exclude_chance(self, subject):
        """Enough seeds per `min_seeds`, yet too few for the exact test to reach alpha whatever the data."""
        effect = subject.effect
        test = effect.test if effect else None
        alpha = 1 - effect.level if effect else 0.05
        if test is None or effect.delta is None or test.p_min <= alpha:
            return
        pos, _, neg = effect.signs
        if effect.delta == 0 or (effect.paired and not pos and not neg):
            return  # nothing moved: RA314's finding, not a question of seeds
        many = "paired seeds" if effect.paired else "runs per side"
        need = stats.seeds_needed(alpha, paired=effect.paired)
        consistent = effect.paired and not (pos and neg)
        lead = f"direction consistent ({pos}+/{effect.signs[1]}=/{neg}-) but too few" if consistent else "too few"
        yield self.finding(
            f"{lead} seeds to exclude chance: the exact {test.name} test cannot go below p = {test.p_min:.3g} with "
            f"{effect.sizes} (p <= {alpha:.3g} needs at least {need} {many})", subject.location,
            {"p_min": test.p_min, "p_value": test.p_value, "alpha": alpha, "seeds": effect.n, "seeds_needed": need})
