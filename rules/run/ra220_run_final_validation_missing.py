from dataclasses import dataclass

from auditor.findings import run_location
from auditor.rule import RunRule
from auditor.runs.readers.common import to_float, to_step
from auditor.runs.steps import (EVAL_PREFIXES, eval_metrics, format_step, last_eval_step, last_logged_step,
                                last_train_step)


class RunFinalValidationMissing(RunRule):
    id = "RA220"
    name = "run-final-validation-missing"
    severity = "error"
    summary = "The run's last evaluation (or its reported number) comes from before its last training step."
    rationale = (
        "A periodic validation schedule whose interval does not divide the step count, or a skipped final "
        "validation, leaves the last evaluated checkpoint short of the trained one; its number is then "
        "reported as 'final'. Training's end is taken from the training history and from max_steps (record "
        "or key map); both 0-based (0..max_steps-1) and 1-based (1..max_steps) step counts are accepted."
    )
    incident = ("Six experiments reported the score of step 20 as their final result, while training ran to step 29 and the "
                "last step was never validated. Every comparison built on those numbers compared unfinished models.")
    params = {"eval_prefixes": list(EVAL_PREFIXES)}
    bad = [
        {"id": "verl-e13k", "seed": 0, "config": {"trainer": {"total_training_steps": 29, "test_freq": 20}},
         "status": {"state": "completed", "exit_code": 0},
         "metrics": {"val/acc": [[0, 0.0811], [20, 0.6596]]}, "reported": {"val/acc": 0.6596, "step": 20}},
        {"id": "one-based-history", "seed": 0, "config": {"lr": 0.1}, "train": {"max_steps": 29},
         "metrics": {"train/loss": [[s, 1.0 / s] for s in range(1, 30)], "val/acc": [[10, 0.5], [28, 0.7]]}},
        {"id": "reported-early", "seed": 0, "config": {"max_steps": 29},
         "metrics": {"val/acc": [[0, 0.08], [20, 0.61], [29, 0.71]]}, "reported": {"val/acc": 0.61}},
        {"id": "float-steps-nested-key", "seed": 0, "config": {"trainer": {"max_steps": 29.0}},
         "metrics": {"val-core/gsm8k/acc": [[0.0, 0.1], [20.0, 0.6]]}, "reported": {"gsm8k/acc": 0.6, "step": 20.0}},
    ]
    good = [
        {"id": "verl-e13h", "seed": 0, "config": {"trainer": {"total_training_steps": 29, "test_freq": 20}},
         "metrics": {"val/acc": [[0, 0.0796], [20, 0.6073], [29, 0.7142]]}, "reported": {"val/acc": 0.7142, "step": 29}},
        {"id": "zero-based-history", "seed": 0, "config": {"lr": 0.1}, "train": {"max_steps": 29},
         "metrics": {"train/loss": [[s, 1.0 / (s + 1)] for s in range(29)], "val/acc": [[0, 0.1], [28, 0.7]]}},
        {"id": "no-evaluation", "seed": 0, "config": {"max_steps": 29}, "metrics": {"train/loss": [[0, 1.0], [28, 0.1]]}},
        {"id": "still-running", "seed": 0, "config": {"max_steps": 29}, "status": {"state": "running"},
         "metrics": {"val/acc": [[0, 0.1], [20, 0.6]]}},
        {"id": "interval-divides-max-steps", "seed": 0,
         "config": {"trainer": {"total_training_steps": 30, "test_freq": 10}},
         "metrics": {"train/loss": [[s, 1.0 / s] for s in range(1, 31)], "val/acc": [[10, 0.5], [20, 0.6], [30, 0.7]]},
         "reported": {"val/acc": 0.7, "step": 30}},
        {"id": "history-without-steps", "seed": 0, "config": {"max_steps": 1000},
         "metrics": {"train_loss": [[0, 0.9], [0, 0.2]], "val_acc": [[0, 0.7]]}},
        {"id": "evaluated-per-epoch", "seed": 0, "config": {"max_steps": 3000, "max_epochs": 3},
         "metrics": {"val/acc": [[0, 0.4], [1, 0.6], [2, 0.7]]}},
    ]

    def check(self, run, context):
        if run.state in ("running", "failed", "killed"):
            return  # an unfinished run has no final validation to miss; RA230 reports failed ones
        prefixes = tuple(self.options["eval_prefixes"])
        names = eval_metrics(run, prefixes)
        # Every point at step 0 is a history without steps (MLflow's log_metric without step=): no evidence.
        stepped = any(step != 0 for points in run.metrics.values() for step, _ in points)
        last_eval = last_eval_step(run, prefixes) if stepped else None
        reported_name, reported_value = self._reported(run)
        reported_step = to_step(run.reported.get("step"))
        if reported_step is None and reported_name in run.metrics:
            reported_step = next((s for s, v in reversed(run.metrics[reported_name]) if v == reported_value), None)
        if last_eval is None:
            last_eval = reported_step
        if last_eval is None:
            return
        train_last = last_train_step(run, prefixes) if stepped else None
        max_steps = run.max_steps
        max_epochs = to_step(context.value(run, "max_epochs"))
        if train_last is None and max_epochs and max_epochs - 1 <= last_eval <= max_epochs:
            return  # evaluations logged per epoch, the last epoch's included
        candidates = [s for s in (train_last, max_steps - 1 if max_steps else None) if s is not None]
        if not candidates:
            return
        final = max(candidates)  # max_steps - 1: a 0-based count's last step is accepted as the end
        end = train_last if train_last is not None and (max_steps is None or train_last >= max_steps) else max_steps
        early_eval = last_eval < final
        early_report = reported_step is not None and reported_step < final
        if not (early_eval or early_report):
            return
        logged = last_logged_step(run) if stepped else None
        yield self.finding(self._message(run, context, names, last_eval, _End(end, train_last, max_steps, logged),
                                         reported_name, reported_value, reported_step, early_eval),
                           run_location(run.id),
                           {"last_eval_step": last_eval, "last_train_step": train_last, "max_steps": max_steps,
                            "last_logged_step": logged, "eval_interval": context.value(run, "eval_interval"),
                            "reported_step": reported_step, "eval_metrics": names})

    @staticmethod
    def _reported(run):
        for key, value in sorted(run.reported.items()):
            if key != "step" and to_float(value) is not None:
                return key, to_float(value)
        return None, None

    def _message(self, run, context, names, last_eval, end, reported_name, reported_value, reported_step,
                 early_eval):
        parts = []
        if early_eval:
            shown = ", ".join(names[:3]) or "the evaluation"
            parts.append(f"run {run.id}: the last evaluation ({shown}) is at step {format_step(last_eval)} but "
                         f"{end.describe()}")
            interval = to_step(context.value(run, "eval_interval"))
            if interval and end.max_steps and end.max_steps % interval:
                parts.append(f"(eval interval {format_step(interval)} does not divide max_steps {end.max_steps}, "
                             "and there is no validation after the last step)")
        else:
            parts.append(f"run {run.id}: evaluations reach step {format_step(last_eval)}, but")
        if reported_name is not None or reported_step is not None:
            step = reported_step if reported_step is not None else last_eval
            what = f"the reported {reported_name} = {reported_value:g}" if reported_name else "the reported number"
            parts.append(f"{';' if early_eval else ''} {what} is from step {format_step(step)}, not "
                         f"{format_step(end.step)}".lstrip())
            if reported_step is not None and reported_step < end.step:
                parts.append(f"(reported.step {format_step(reported_step)} < {end.label} {format_step(end.step)})")
        elif early_eval:
            parts.append(f"; its final number is from step {format_step(last_eval)}, not {format_step(end.step)}")
        return " ".join(parts).replace(" ;", ";")


@dataclass
class _End:
    """Where training ended, as the record can say it: the training history reached `step`, or `step` is only
    max_steps, which the history (stopping at `logged`) may never have reached: a truncated record says so
    (RA230), and this rule must not claim the run trained to max_steps."""

    step: float
    train_last: float | None
    max_steps: int | None
    logged: float | None

    @property
    def from_history(self) -> bool:
        return self.train_last is not None and self.train_last >= self.step - 1

    @property
    def label(self) -> str:
        return "last training step" if self.from_history else "max_steps"

    def describe(self) -> str:
        if self.from_history:
            return f"training ran to step {format_step(self.step)}"
        text = f"the run was set to train to max_steps {self.max_steps}"
        if self.logged is not None and self.logged < self.step - 1:
            text += f" and its metrics stop at step {format_step(self.logged)} (the last step logged)"
        return text
