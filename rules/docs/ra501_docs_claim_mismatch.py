from statistics import mean

from auditor.findings import docs_location
from auditor.rule import Rule


def _runs(group, values, metric="nrmse"):
    return [{"id": f"{group}-{i}", "group": group, "config": {"lr": 5e-5}, "metrics": {metric: [[8, v]]}}
            for i, v in enumerate(values)]


BURGERS = _runs("burgers-golden", [0.1247, 0.0831, 0.1047, 0.0849])
VERL = [{"id": "E13h", "seed": 0, "config": {"trainer": {"total_training_steps": 29}},
         "metrics": {"val/acc": [[0, 0.0796], [20, 0.6073], [29, 0.7142]]}, "reported": {"val/acc": 0.7142, "step": 29}}]


class DocsClaimMismatch(Rule):
    id = "RA501"
    name = "docs-claim-mismatch"
    scope = "docs"
    subject = "claim"
    severity = "error"
    summary = "A number the docs claim for a run or group is not what its runs say."
    rationale = (
        "Docs are where the next person learns what to expect. A number there that no run produced sends "
        "them chasing a result that never existed, or hides a regression. The claim is tied to a run or "
        "group and a metric by name; a number within the printed precision (wider for '~', 'about') of the "
        "run's score, a group's mean or any of its runs' values is accepted."
    )
    incident = ("A project's docs promised an error of about 0.078, while its runs actually reached 0.083 to 0.125. New team "
                "members planned against a number no run had produced.")
    params = {"rel_tolerance": 0.002, "approx_tolerance": 0.05}
    bad = [
        {"doc": "## burgers-golden\n\nExpected performance: NRMSE ~0.078 after 8 epochs.\n", "runs": BURGERS},
        {"doc": "| run | val/acc |\n|---|---|\n| E13h | 73.31% |\n", "runs": VERL},
    ]
    good = [
        {"doc": "## burgers-golden\n\nBaseline NRMSE ranges 0.0831 to 0.1247 (mean ~0.099).\n", "runs": BURGERS},
        {"doc": "E13h reached val/acc 71.42% at step 29 (60.73% at step 20), 10.69pp more.\n", "runs": VERL},
        # not tied to a known run or group: skipped, not guessed
        {"doc": "The paper reports NRMSE 0.05 on a different benchmark.\n", "runs": BURGERS},
    ]

    def check(self, claim, context=None):
        values = [v for _, v in claim.observed]
        candidates = values + [mean(values)] + list(claim.history)
        fractions = all(abs(v) <= 1.5 for v in candidates)
        units = [0.01] if claim.percent and fractions else [1.0]  # 73.31% of a 0..1 metric is 0.7331
        if not claim.percent and fractions and claim.value > 1.5:
            units.append(0.01)  # "73.31 accuracy" for a 0.7331 metric
        for unit in units:
            reading = claim.value * unit
            tol = max(0.5 * 10 ** -claim.decimals * unit, self.options["rel_tolerance"] * abs(reading))
            if claim.approx:
                tol = max(tol, self.options["approx_tolerance"] * abs(reading))
            if any(abs(reading - c) <= tol + 1e-12 for c in candidates):
                return
        if len(values) == 1:
            said = f"its record says {values[0]:.4g}"
        else:
            said = (f"its {len(values)} runs give {min(values):.4g}–{max(values):.4g} "
                    f"(mean {mean(values):.4g})")
        yield self.finding(
            f"claims {claim.metric} {claim.text} for {claim.subject}, but {said}",
            docs_location(claim.path, claim.line),
            {"subject": claim.subject, "metric": claim.metric, "claimed": claim.text,
             "observed": {rid: v for rid, v in claim.observed}},
            anchor=f"{claim.subject} {claim.metric} {claim.text}")
