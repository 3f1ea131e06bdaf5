from auditor.compare.validity import describe, eval_attributes, side_values
from auditor.rule import Rule


def _run(id, framework, dataset, metric_def=None, value=0.9543):
    ev = {"framework": framework, "dataset": dataset}
    if metric_def:
        ev["metric_definition"] = metric_def
    return {"id": id, "config": {"epochs": 100000, "layers": "2048,1024,512"}, "eval": ev,
            "metrics": {"eval/pass_pct": [[100000, value]]}}


class CompareEvalSetMismatch(Rule):
    id = "RA305"
    name = "compare-eval-set-mismatch"
    scope = "compare"
    severity = "error"
    summary = "The sides were scored on different eval data, with a different eval framework or metric definition."
    rationale = (
        "A pass rate on 10k random samples and a pass rate on a curated 50k-case CSV are different numbers "
        "with the same name. Side by side they read as progress or regression that the model never made."
    )
    incident = ("Runs evaluated with an old evaluation framework and data (97.33%) were listed next to runs evaluated with a "
                "new one (95.43%). The drop was read as a model regression, though the test itself had changed.")
    bad = [
        {"baseline": [_run("run1", "old", "random-10k", value=0.9733)],
         "treatment": [_run("run2", "v2", "collatz_eval_50k.csv")], "metric": "eval/pass_pct"},
        {"baseline": [_run("run2", "v2", "collatz_eval_50k.csv", metric_def="pass")],
         "treatment": [_run("run3", "v2", "collatz_eval_50k.csv", metric_def="weighted-pass")],
         "metric": "eval/pass_pct"},
    ]
    good = [
        {"baseline": [_run("run2", "v2", "collatz_eval_50k.csv")],
         "treatment": [_run("run3", "v2", "collatz_eval_50k.csv", value=0.9568)], "metric": "eval/pass_pct"},
        # a side that does not record its eval set is not guessed to differ
        {"baseline": [{"id": "x", "config": {"epochs": 1}, "metrics": {"eval/pass_pct": [[1, 0.5]]}}],
         "treatment": [_run("y", "v2", "collatz_eval_50k.csv")], "metric": "eval/pass_pct"},
    ]

    def check(self, subject, context=None):
        key_map = subject.config.key_map
        attrs = {r.id: eval_attributes(r, key_map) for r in subject.runs}
        keys = sorted({k for a in attrs.values() for k in a})
        parts, evidence = [], {}
        for key in keys:
            b = side_values(subject.baseline, lambda r: attrs[r.id].get(key))
            t = side_values(subject.treatment, lambda r: attrs[r.id].get(key))
            if "(unset)" in b or "(unset)" in t or set(b) == set(t):
                continue
            parts.append(f"{key} = {describe(b, subject.baseline_label)} vs {describe(t, subject.treatment_label)}")
            evidence[key] = {"baseline": b, "treatment": t}
        if parts:
            yield self.finding("scored on a different eval set/protocol: " + "; ".join(parts), subject.location,
                               {"keys": evidence})
