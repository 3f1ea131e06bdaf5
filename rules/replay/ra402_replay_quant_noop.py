from auditor.findings import run_location
from auditor.replay.result import ReplayResult
from auditor.rule import Rule


class ReplayQuantNoop(Rule):
    id = "RA402"
    name = "replay-quant-noop"
    scope = "replay"
    severity = "error"
    summary = ("The run's declared quantization changes nothing in the replay: the model's outputs (or the metric) "
               "are identical with and without it, so the hooks are not applied or hit the wrong modules.")
    rationale = (
        "Quantization that is declared but never applied makes every quantized number a full-precision one: "
        "hooks registered on a module type the model does not use, include/exclude patterns that match "
        "nothing, or a hook function that returns a new model the caller throws away."
    )
    incident = ("Evaluation scripts that were meant to apply 4-bit (MXFP4) quantization did not apply it, so the \"quantized\" "
                "scores were BF16 scores. The quantization path changed nothing, and nobody checked that it did something.")
    bad = [
        {"run_id": "hook-on-wrong-type", "metric": "val/acc", "reported": 0.73, "quant": "mxfp4-w4a4",
         "quant_declared": True, "quantized": 0.73, "unquantized": 0.73, "tolerance": 0.01,
         "outputs_identical": True, "quant_report": {"quantized_modules": [], "include": ["decoder.*"]}},
        {"run_id": "patterns-match-nothing", "metric": "acc", "reported": 0.6, "quant": "pkg.quant:apply",
         "quant_declared": True, "quantized": 0.61, "unquantized": 0.61, "tolerance": 0.01,
         "quant_report": {"quantized_modules": []}},
    ]
    good = [
        {"run_id": "applied", "metric": "val/acc", "reported": 0.71, "quant": "mxfp4-w4a4", "quant_declared": True,
         "quantized": 0.71, "unquantized": 0.74, "tolerance": 0.01, "outputs_identical": False},
        {"run_id": "same-metric-different-outputs", "metric": "val/acc", "reported": 0.9, "quant": "mxfp8-w8a8",
         "quant_declared": True, "quantized": 0.9, "unquantized": 0.9, "tolerance": 0.01,
         "outputs_identical": False, "quant_report": {"quantized_modules": ["fc1", "fc2"]}},
        {"run_id": "bf16", "metric": "val/acc", "reported": 0.9, "quant": "bf16", "quant_declared": False,
         "quantized": 0.9, "unquantized": 0.9, "tolerance": 0.01},
    ]

    def check(self, result: ReplayResult, context=None):
        if result.checkpoint_problem or not result.quant_noop:
            return
        report = result.quant_report or {}
        modules = report.get("quantized_modules") or []
        patterns = {k: report.get(k) for k in ("include", "exclude") if report.get(k)}
        if modules:
            where = f"it reported quantizing {len(modules)} module(s) ({', '.join(modules[:5])}), yet nothing changed"
        else:
            where = "no module was quantized"
        if patterns:
            where += "; module patterns: " + "; ".join(f"{k} {', '.join(v)}" for k, v in patterns.items())
        seen = "model outputs" if result.outputs_identical is not None else "the metric"
        message = (f"declared quantization {result.quant} changes nothing: {seen} identical with and without it "
                   f"({where}); hooks not applied or applied to the wrong modules")
        evidence = {"quant": result.quant, "quantized_modules": modules, **patterns,
                    "replay_quantized": result.quantized, "replay_unquantized": result.unquantized,
                    "outputs_identical": result.outputs_identical}
        yield self.finding(message, run_location(result.run_id), evidence)
