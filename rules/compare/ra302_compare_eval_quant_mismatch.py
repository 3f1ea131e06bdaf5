from auditor.compare.validity import describe, eval_quant, raw_eval_quant, side_values, train_quant
from auditor.rule import Rule


def _run(id, quant, train="mxfp4-w4a4", step=29, acc=0.7142, group=None):
    record = {"id": id, "seed": 0, "config": {"quant": {"mode": train}, "trainer": {"total_training_steps": 29}},
              "eval": {"quant": quant}, "metrics": {"val/acc": [[step, acc]]}}
    if group:
        record["group"] = group
    return record


class CompareEvalQuantMismatch(Rule):
    id = "RA302"
    name = "compare-eval-quant-mismatch"
    scope = "compare"
    severity = "error"
    summary = "The two sides were evaluated under different quantization modes (e.g. a W4A4 model scored in BF16)."
    rationale = (
        "A model trained with 4-bit fake quantization and evaluated without it scores higher than the same "
        "model evaluated the way it will be served; put next to runs evaluated with quantization, the "
        "unquantized score looks like a win that does not exist, and every comparison against it is wrong."
    )
    incident = ("A 4-bit (MXFP4 W4A4) model was evaluated in BF16 and then used as the baseline for four other 4-bit runs. "
                "Every comparison against it measured the quantization gap, not the treatment.")
    bad = [
        {"baseline": [_run("E13h", "mxfp4-w4a4")], "treatment": [_run("E13j", "bf16", acc=0.7331)],
         "metric": "val/acc"},
        {"baseline": [_run("a", "nvfp4-w4a4")], "treatment": [_run("b", "mxfp4-w4a4")], "metric": "val/acc"},
    ]
    good = [
        {"baseline": [_run("E13h", "mxfp4-w4a4")], "treatment": [_run("E13k", "mxfp4-w4a4", acc=0.7500)],
         "metric": "val/acc"},
        # "none" and "bf16" are the same thing for quantization: both sides unquantized.
        {"baseline": [_run("fp-a", "none", train="none")], "treatment": [_run("fp-b", "bf16", train="none")],
         "metric": "val/acc"},
    ]

    def check(self, subject, context=None):
        key_map = subject.config.key_map
        b_mode = side_values(subject.baseline, lambda r: eval_quant(r, key_map))
        t_mode = side_values(subject.treatment, lambda r: eval_quant(r, key_map))
        if "(unset)" in b_mode or "(unset)" in t_mode or set(b_mode) == set(t_mode):
            return  # unknown on a side: nothing to compare (precision over recall)
        b = side_values(subject.baseline, lambda r: raw_eval_quant(r, key_map))
        t = side_values(subject.treatment, lambda r: raw_eval_quant(r, key_map))
        message = f"evaluated under different quantization: {describe(b, subject.baseline_label)} vs " \
                  f"{describe(t, subject.treatment_label)}"
        inflated = [r for r in subject.runs
                    if eval_quant(r, key_map) == "none" and train_quant(r, key_map) not in (None, "none")]
        if inflated:
            message += "; " + "; ".join(
                f"{r.id} was trained with {train_quant(r, key_map)} but scored without quantization "
                f"({raw_eval_quant(r, key_map)}): not a {train_quant(r, key_map)} score, likely inflated" for r in inflated)
        yield self.finding(message, subject.location, {
            "key": "eval.quant", "baseline": b, "treatment": t,
            "trained_quantized_evaluated_unquantized": {r.id: train_quant(r, key_map) for r in inflated}})
