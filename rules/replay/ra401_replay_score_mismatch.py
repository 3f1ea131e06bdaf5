from auditor.findings import run_location
from auditor.replay.result import ReplayResult
from auditor.rule import Rule


def _show(value) -> str:
    return "n/a" if value is None else f"{value:.4g}"


class ReplayScoreMismatch(Rule):
    id = "RA401"
    name = "replay-score-mismatch"
    scope = "replay"
    severity = "error"
    summary = ("Replaying the checkpoint under the run's declared quantization does not reproduce the reported "
               "score; says whether the replay without quantization does (the score was measured without it).")
    rationale = (
        "A score is only evidence if the checkpoint gives it back under the conditions the run claims. A model "
        "trained with W4A4 fake quantization and evaluated without the hooks reports a BF16 number as a W4A4 "
        "one, and every comparison against it is invalid. The tolerance allows for eval noise: --tolerance, "
        "[tool.auditor.replay] tolerance, or by default 0.01 for scores in [0, 1] and 2% relative otherwise."
    )
    incident = ("A model trained with 4-bit (MXFP4 W4A4) quantization was scored without it, and its 73.31% was really a BF16"
                " number. Replaying the checkpoint with and without the quantization shows which one the reported score "
                "matches.")
    bad = [
        {"run_id": "e13j", "metric": "val/acc", "reported": 0.7331, "reported_step": 20, "quant": "mxfp4-w4a4",
         "quant_declared": True, "quantized": 0.5512, "unquantized": 0.7329, "tolerance": 0.01,
         "outputs_identical": False},
        {"run_id": "lost-weights", "metric": "val/acc", "reported": 0.71, "quant": "mxfp4-w4a4",
         "quant_declared": True, "quantized": 0.08, "unquantized": 0.09, "tolerance": 0.01, "outputs_identical": False},
        {"run_id": "bf16-run", "metric": "loss", "reported": 2.1, "quant": "none", "quant_declared": False,
         "quantized": 2.6, "unquantized": 2.6, "tolerance": 0.042},
    ]
    good = [
        {"run_id": "e13h", "metric": "val/acc", "reported": 0.7142, "reported_step": 29, "quant": "mxfp4-w4a4",
         "quant_declared": True, "quantized": 0.7139, "unquantized": 0.7391, "tolerance": 0.01,
         "outputs_identical": False},
        {"run_id": "noise", "metric": "loss", "reported": 2.1, "quant": "nvfp4-w4a4", "quant_declared": True,
         "quantized": 2.13, "unquantized": 2.0, "tolerance": 0.042, "outputs_identical": False},
        {"run_id": "unsafe", "metric": "val/acc", "reported": 0.7, "checkpoint_problem": "unsafe"},
    ]

    def check(self, result: ReplayResult, context=None):
        if result.checkpoint_problem or result.reported is None or result.quantized is None:
            return
        if result.quantized_matches:
            return
        evidence = {"metric": result.metric, "reported": result.reported, "reported_step": result.reported_step,
                    "quant": result.quant, "replay_quantized": result.quantized,
                    "replay_unquantized": result.unquantized, "tolerance": result.tolerance}
        step = f" at step {result.reported_step}" if result.reported_step is not None else ""
        head = f"reported {result.metric} {_show(result.reported)}{step}"
        if not result.quant_declared:
            message = (f"{head} is not reproduced: the replay gives {_show(result.quantized)} "
                       f"(tolerance ±{_show(result.tolerance)})")
        elif result.unquantized_matches and not result.quant_noop:
            evidence["diagnosis"] = "measured without quantization"
            message = (f"{head} was measured without quantization: replay with {result.quant_description} gives "
                       f"{_show(result.quantized)}, without quantization {_show(result.unquantized)} "
                       f"(tolerance ±{_show(result.tolerance)})")
        else:
            message = (f"{head} is not reproduced: replay with {result.quant_description} gives "
                       f"{_show(result.quantized)}, without quantization {_show(result.unquantized)} "
                       f"(tolerance ±{_show(result.tolerance)})")
        yield self.finding(message, run_location(result.run_id), evidence)
