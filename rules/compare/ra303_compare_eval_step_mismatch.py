from auditor.compare.groups import final_step, score
from auditor.compare.validity import describe, side_values
from auditor.rule import Rule
from auditor.runs.steps import format_step


def _run(id, scored_at, max_steps=29, acc=0.70):
    return {"id": id, "seed": 0, "config": {"trainer": {"total_training_steps": max_steps, "test_freq": 20}},
            "metrics": {"val/acc": [[0, 0.08], [20, acc - 0.1]] + ([[29, acc]] if scored_at == 29 else []),
                        "train/loss": [[s, 1.0 / (s + 1)] for s in range(0, max_steps + 1)]},
            "reported": {"val/acc": acc if scored_at == 29 else acc - 0.1, "step": scored_at}}


class CompareEvalStepMismatch(Rule):
    id = "RA303"
    name = "compare-eval-step-mismatch"
    scope = "compare"
    severity = "error"
    summary = "The scores were taken at different steps, or a score is not from the run's final step."
    rationale = (
        "Accuracy still climbs late in training: the verl runs gained about 10 points between step 20 and "
        "step 29. A step-20 number next to a step-29 number compares two points of two curves, and a run "
        "whose final validation never happened has no final score at all."
    )
    incident = ("Some runs were scored at step 20 and others at their final step 29, then compared side by side. The "
                "differences between them were partly just the nine missing steps of training.")
    bad = [
        {"baseline": [_run("E13h", 29)], "treatment": [_run("E13j", 20)], "metric": "val/acc"},
        # same step on both sides, but neither is the last step: the final validation was skipped
        {"baseline": [_run("E13k", 20)], "treatment": [_run("E13m", 20)], "metric": "val/acc"},
    ]
    good = [
        {"baseline": [_run("E13g", 29)], "treatment": [_run("E13h", 29, acc=0.7142)], "metric": "val/acc"},
        # different run lengths, each scored at its own final step (the steps are protocol, RA304's job)
        {"baseline": [_run("short", 20, max_steps=20)], "treatment": [_run("short-b", 20, max_steps=20)],
         "metric": "val/acc"},
    ]

    def check(self, subject, context=None):
        metric = subject.metric
        steps = {r.id: score(r, metric)[1] for r in subject.runs if score(r, metric)[0] is not None}
        b = side_values([r for r in subject.baseline if r.id in steps], lambda r: format_step(steps[r.id]))
        t = side_values([r for r in subject.treatment if r.id in steps], lambda r: format_step(steps[r.id]))
        if b and t and "?" not in b and "?" not in t and set(b) != set(t):
            yield self.finding(
                f"{metric} taken at different steps: {describe(b, subject.baseline_label)} vs "
                f"{describe(t, subject.treatment_label)}",
                subject.location, {"metric": metric, "baseline_steps": b, "treatment_steps": t})
        early = []
        for run in subject.runs:
            step, last = steps.get(run.id), final_step(run, subject.config)
            if step is not None and last is not None and step < last:
                early.append((run.id, step, last))
        if early:
            yield self.finding(
                "score not from the final step: " + ", ".join(
                    f"{rid} scored at step {s:g} of {last:g}" for rid, s, last in early)
                + " (the final validation is missing or was skipped)",
                subject.location,
                {"metric": metric, "not_final": {rid: {"step": s, "final_step": last} for rid, s, last in early}})
