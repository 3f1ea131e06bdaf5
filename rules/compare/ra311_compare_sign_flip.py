from auditor.rule import CompareRule
from auditor.compare.examples import group


def _fmt(x):
    return f"{x:+.4g}"


class CompareSignFlip(CompareRule):
    id = "RA311"
    name = "compare-sign-flip"
    severity = "warning"
    summary = "The per-seed deltas disagree in sign: the treatment helps on some seeds and hurts on others."
    rationale = (
        "When the same change is positive on one seed and negative on another, the mean hides the fact that "
        "the sign itself is not reproducible. A claim of improvement needs the seeds to agree, or many more "
        "of them: with few seeds the exact test leaves such an effect unsupported (RA312); with enough seeds "
        "to exclude chance on the mean, the effect is supported and the disagreement stays a caveat."
    )
    incident = ("Per-seed gains of +0.038, +0.018 and -0.053 were summarized as a \"slight mean gain\". The seeds disagreed on "
                "the sign, so the data did not support any direction.")
    bad = [
        {"baseline": group("r6-base", [0.300, 0.310, 0.320]),
         "treatment": group("r6-fs", [0.3382, 0.3279, 0.2675]), "metric": "val/acc"},
    ]
    good = [
        {"baseline": group("r2-base", [0.30, 0.31, 0.29]), "treatment": group("r2-fs", [0.321, 0.329, 0.312]),
         "metric": "val/acc"},
        # zero deltas are not a sign flip (that is a no-op: RA314)
        {"baseline": group("r12-base", [0.30, 0.31, 0.29, 0.30, 0.32]),
         "treatment": group("r12-fs", [0.33, 0.31, 0.29, 0.31, 0.32]), "metric": "val/acc"},
    ]

    def check(self, subject):
        effect = subject.effect
        if not effect or not effect.paired:
            return  # without paired seeds there are no per-seed deltas
        pos, zero, neg = effect.signs
        if pos and neg:
            per_seed = ", ".join(f"seed {row.seed}: {_fmt(row.delta)}" for row in subject.rows if row.delta is not None)
            yield self.finding(
                f"per-seed deltas of {subject.metric} disagree in sign ({pos}+/{zero}=/{neg}-): {per_seed}",
                subject.location,
                {"signs": {"positive": pos, "zero": zero, "negative": neg}, "deltas": effect.deltas})
