from statistics import mean

from auditor.findings import docs_location
from auditor.rule import DocsRule


def _runs(group, values, metric="nrmse"):
    return [{"id": f"{group}-{i}", "group": group, "seed": i, "config": {"lr": 5e-5}, "metrics": {metric: [[8, v]]}}
            for i, v in enumerate(values)]


BURGERS = _runs("burgers-golden", [0.1247, 0.0831, 0.1047, 0.0849])
# Three seeds were launched; seed 2 crashed, and seed 0 was run twice: two seeds are behind the mean.
WIDE = [*_runs("wide-lr3", [0.91, 0.93], "acc"),
        {"id": "wide-lr3-2", "group": "wide-lr3", "seed": 2, "status": {"state": "failed", "exit_code": 1},
         "metrics": {"acc": [[3, 0.2]]}},
        {"id": "wide-lr3-0b", "group": "wide-lr3", "seed": 0, "metrics": {"acc": [[8, 0.91]]}}]
VERL = [{"id": "E13h", "seed": 0, "config": {"trainer": {"total_training_steps": 29}},
         "metrics": {"val/acc": [[0, 0.0796], [20, 0.6073], [29, 0.7142]]}, "reported": {"val/acc": 0.7142, "step": 29}}]


class DocsClaimMismatch(DocsRule):
    id = "RA501"
    name = "docs-claim-mismatch"
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
        # the value is right, the seed count is not: one of the three seeds crashed, one was run twice
        {"doc": "The wide-lr3 model reaches acc 0.917 (3 seeds).\n", "runs": WIDE},
        {"doc": "For wide-lr3, acc 0.917 over 3 seeds.\n", "runs": WIDE},
    ]
    good = [
        {"doc": "## burgers-golden\n\nBaseline NRMSE ranges 0.0831 to 0.1247 (mean ~0.099).\n", "runs": BURGERS},
        {"doc": "E13h reached val/acc 71.42% at step 29 (60.73% at step 20), 10.69pp more.\n", "runs": VERL},
        # not tied to a known run or group: skipped, not guessed
        {"doc": "The paper reports NRMSE 0.05 on a different benchmark.\n", "runs": BURGERS},
        {"doc": "The wide-lr3 model reaches acc 0.917 (2 seeds).\n", "runs": WIDE},
        {"doc": "burgers-golden: NRMSE ~0.099 ± 0.02 over 4 seeds.\n", "runs": BURGERS},
    ]

    def check(self, claim):
        yield from self._seed_count(claim)
        yield from self._value(claim)

    def _seed_count(self, claim):
        """"(3 seeds)" / "over 3 seeds": as many distinct completed seeds must be behind the number."""
        if claim.seed_count is None or claim.seed_count == len(claim.behind):
            return
        seeds = ", ".join(s for s in claim.behind if not s.startswith("?"))
        unknown = sum(s.startswith("?") for s in claim.behind)
        which = (f" (seed {seeds})" if len(claim.behind) == 1 and seeds else f" (seeds {seeds})" if seeds else "") + \
            (f", {unknown} without a recorded seed" if unknown else "")
        yield self.finding(
            f"claims {claim.metric} {claim.text} for {claim.subject} over {claim.seed_count} seeds, but "
            f"{len(claim.behind)} completed seed(s) are behind it{which}; failed, unfinished and repeated "
            "runs do not count", docs_location(claim.path, claim.line),
            {"subject": claim.subject, "metric": claim.metric, "claimed": claim.text,
             "claimed_seeds": claim.seed_count, "seeds": claim.behind},
            anchor=f"{claim.subject} {claim.metric} {claim.text} seeds")

    def _value(self, claim):
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
