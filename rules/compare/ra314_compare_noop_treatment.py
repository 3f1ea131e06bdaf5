from auditor.compare import stats
from auditor.rule import Rule
from auditor.compare.examples import group


class CompareNoopTreatment(Rule):
    id = "RA314"
    name = "compare-noop-treatment"
    scope = "compare"
    severity = "warning"
    summary = "The treatment's results are identical to the baseline's: the change was probably never applied."
    rationale = (
        "When every seed gives the same number with and without the change (or, for unseeded runs, the "
        "same set of numbers), the likeliest story is not a robust null result but a flag that never "
        "reached the code path: a hook not installed, a config key nobody reads. Equal within "
        "`rel_tolerance` of the baseline value (or `abs_tolerance`) counts as identical."
    )
    incident = ("A test-time feature claimed to improve error by 25x gave exactly the baseline's numbers on all four runs. "
                "The feature had never been applied, and the treatment was a no-op.")
    params = {"abs_tolerance": 0.0, "rel_tolerance": 1e-3}
    bad = [
        {"baseline": group("burgers", [0.1247, 0.0831, 0.1047, 0.0849], metric="nrmse", seeded=False),
         "treatment": group("burgers-ttc", [0.12470, 0.08311, 0.10471, 0.08491], metric="nrmse", seeded=False),
         "metric": "nrmse"},
        {"baseline": group("r11-base", [0.41, 0.43, 0.40]), "treatment": group("r11-lstart12", [0.41, 0.43, 0.40]),
         "metric": "val/acc"},
    ]
    good = [
        {"baseline": group("base", [0.30, 0.31, 0.29]), "treatment": group("fs", [0.32, 0.33, 0.31]),
         "metric": "val/acc"},
        # the same values on different seeds is a real change per seed, not a no-op
        {"baseline": group("b", [0.41, 0.43, 0.40]), "treatment": group("t", [0.43, 0.40, 0.41]),
         "metric": "val/acc"},
    ]

    def check(self, subject, context=None):
        if not subject.rows:
            return
        paired = subject.paired
        if paired:
            rows = [r for r in subject.rows if r.delta is not None]
            base, treat = [r.baseline for r in rows], [r.treatment for r in rows]
        else:
            base = [v for _, v in subject.scored(subject.baseline)]
            treat = [v for _, v in subject.scored(subject.treatment)]
        if not stats.noop(base, treat, paired=paired, abs_tol=float(self.options["abs_tolerance"]),
                          rel_tol=float(self.options["rel_tolerance"])):
            return
        how = "on every paired seed" if paired else "as sorted lists (unseeded runs)"
        exact = all(a == b for a, b in zip(sorted(base), sorted(treat)))
        yield self.finding(
            f"{subject.treatment_label} gives {'the same' if exact else 'the same (within tolerance)'} {subject.metric} "
            f"as {subject.baseline_label} {how} over {len(base)} run(s): the treatment was probably never applied",
            subject.location,
            {"paired": paired, "baseline": base, "treatment": treat, "exact": exact,
             "abs_tolerance": self.options["abs_tolerance"], "rel_tolerance": self.options["rel_tolerance"]})
