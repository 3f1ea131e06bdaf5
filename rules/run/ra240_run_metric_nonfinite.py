import math
import re
import statistics

from auditor.findings import run_location
from auditor.rule import RunRule
from auditor.runs.steps import format_step


class RunMetricNonfinite(RunRule):
    id = "RA240"
    name = "run-metric-nonfinite"
    severity = "warning"
    identity = ("metric",)  # one finding per metric
    summary = "A metric went NaN/inf, or a loss-like metric exploded (its last value orders of magnitude above its start)."
    rationale = (
        "A NaN or a diverged loss means the run's numbers describe a broken optimisation, not the method; "
        "they are often averaged in unnoticed. A loss-like metric is one whose name matches `loss_patterns`; "
        "it has exploded when its last value is `explode_factor` times the median of its early values."
    )
    incident = ("A run's energy metric grew exponentially, from 2.4k to 841k, before the process died. Read as a normal "
                "curve, the exploding metric would have been averaged into the results.")
    params = {"explode_factor": 100.0, "early_fraction": 0.1,
              "loss_patterns": ["loss", "mse", "mae", "nll", "perplexity", "ppl", "error", "energy", "e_pos"]}
    bad = [
        {"id": "nan-loss", "seed": 0, "config": {"lr": 1.0},
         "metrics": {"train/loss": [[0, 2.3], [1, 1.9], [2, float("nan")]]}},
        {"id": "exploding", "seed": 0, "config": {"lr": 0.1},
         "metrics": {"cd/e_pos": [[1000, 2400.0], [2000, 2600.0], [3000, 9000.0], [4000, 120000.0], [4500, 841000.0]]}},
        {"id": "inf-value", "seed": 0, "config": {"lr": 0.1}, "metrics": {"val/acc": [[0, 0.1], [1, float("inf")]]}},
        # two metrics gone: two findings, told apart by their metric
        {"id": "both-nan", "seed": 0, "config": {"lr": 1.0},
         "metrics": {"train/loss": [[0, 2.3], [1, float("nan")]], "val/loss": [[0, 2.4], [1, float("nan")]]}},
    ]
    good = [
        {"id": "decreasing", "seed": 0, "config": {"lr": 0.1},
         "metrics": {"train/loss": [[0, 2.3], [1, 1.0], [2, 0.5], [3, 0.2]]}},
        {"id": "accuracy-grows-a-lot", "seed": 0, "config": {"lr": 0.1},
         "metrics": {"val/acc": [[0, 0.001], [1, 0.2], [2, 0.5], [3, 0.7], [4, 0.72]]}},
        {"id": "noisy-but-bounded", "seed": 0, "config": {"lr": 0.1},
         "metrics": {"train/loss": [[0, 1.0], [1, 1.2], [2, 0.9], [3, 5.0], [4, 0.8]]}},
    ]

    def check(self, run, _context):
        patterns = [re.compile(p, re.IGNORECASE) for p in self.options["loss_patterns"]]
        for name, points in sorted(run.metrics.items()):
            bad = [(s, v) for s, v in points if not math.isfinite(v)]
            if bad:
                step, value = bad[0]
                yield self.finding(f"run {run.id}: metric {name} is {value} at step {format_step(step)} "
                                   f"({len(bad)} non-finite value(s))", run_location(run.id),
                                   {"metric": name, "step": step, "count": len(bad)})
                continue
            if any(p.search(name) for p in patterns):
                yield from self._explosion(run, name, points)

    def _explosion(self, run, name, points):
        if len(points) < 4:
            return
        early_n = max(3, int(len(points) * float(self.options["early_fraction"])))
        early = statistics.median(abs(v) for _, v in points[:early_n])
        step, last = points[-1]
        factor = float(self.options["explode_factor"])
        if early > 0 and abs(last) >= factor * early:
            yield self.finding(f"run {run.id}: {name} exploded: {last:g} at step {format_step(step)}, "
                               f"{abs(last) / early:.0f}x its early median {early:g}", run_location(run.id),
                               {"metric": name, "early_median": early, "last": last, "step": step})
