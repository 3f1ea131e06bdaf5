"""Which metrics are evaluation metrics, and where a run's training and evaluation ended."""

from __future__ import annotations

import re

from auditor.runs.record import Run

EVAL_PREFIXES = ("val", "valid", "validation", "eval", "evaluation", "test")
_SEPARATORS = "/_-.:@"


def format_step(step) -> str:
    """A step as people write it: 29, not 29.0; 0.5 stays 0.5; "?" when unknown."""
    if step is None:
        return "?"
    return str(int(step)) if float(step) == int(step) else f"{step:g}"


def is_eval_metric(name: str, prefixes=EVAL_PREFIXES) -> bool:
    """val/acc, val-core/gsm8k/acc, eval_loss, test/score, validation_mse: yes; train/loss, lr: no."""
    lowered = name.lower()
    for segment in re.split(r"[/]", lowered):
        for prefix in prefixes:
            if segment == prefix or (segment.startswith(prefix) and segment[len(prefix):len(prefix) + 1] in _SEPARATORS):
                return True
            if segment.endswith(prefix) and segment[-len(prefix) - 1:-len(prefix)] in ("_", "-"):
                return True  # suffix forms: loss_val, acc-test
    return False


def eval_metrics(run: Run, prefixes=EVAL_PREFIXES) -> list[str]:
    return [name for name in run.metrics if is_eval_metric(name, prefixes)]


def last_train_step(run: Run, prefixes=EVAL_PREFIXES):
    steps = [points[-1][0] for name, points in run.metrics.items()
             if points and not is_eval_metric(name, prefixes) and not name.startswith("_")]
    return max(steps, default=None)


def last_logged_step(run: Run):
    """The last step any metric reached (each history's last point): where the record actually stops."""
    return max((points[-1][0] for points in run.metrics.values() if points), default=None)


def last_eval_step(run: Run, prefixes=EVAL_PREFIXES):
    steps = [run.metrics[name][-1][0] for name in eval_metrics(run, prefixes) if run.metrics[name]]
    return max(steps, default=None)
