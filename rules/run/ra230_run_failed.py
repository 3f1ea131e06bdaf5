import signal

from auditor.findings import run_location
from auditor.rule import Rule
from auditor.runs.steps import format_step


def _signal_note(code: int) -> str:
    """128+N (a shell's report) or -N (Python's subprocess) means the process died of signal N."""
    number = code - 128 if 128 < code < 160 else -code if code < 0 else None
    try:
        return f" (signal {signal.Signals(number).name}{', often the OOM killer' if number == 9 else ''})" if number else ""
    except ValueError:
        return ""


class RunFailed(Rule):
    id = "RA230"
    name = "run-failed"
    scope = "run"
    severity = "error"
    summary = "A failed, killed or non-zero-exit run still carries metrics: its partial numbers are not results."
    rationale = (
        "Partial metrics of a run that died (a Slurm node failure with exit 120, a crash left as a stale "
        "RUNNING record, a SIGKILL) look like any other run's in a table; averaged with the finished seeds "
        "they silently change the result, or a half-trained number is read as a final one."
    )
    incident = ("Two seeds of a run died with exit code 120 partway through, leaving partial logs that looked like results. "
                "Their numbers nearly went into the comparison as if the runs had finished.")
    bad = [
        {"id": "q201-s2", "seed": 2, "config": {"max_steps": 100000},
         "status": {"state": "failed", "exit_code": 120, "elapsed_s": 4240},
         "metrics": {"val_mse": [[1000, 0.9], [4000, 0.58]]}},
        {"id": "nonzero-exit-only", "seed": 3, "config": {"lr": 0.1}, "status": {"exit_code": 120},
         "metrics": {"train/loss": [[0, 1.0]]}},
        {"id": "killed-with-report", "seed": 1, "config": {"lr": 0.1}, "status": {"state": "killed"},
         "reported": {"val/acc": 0.5}},
        {"id": "oom-sigkill-137", "seed": 4, "config": {"lr": 0.1}, "status": {"exit_code": 137},
         "metrics": {"val/acc": [[100, 0.4]]}},
    ]
    good = [
        {"id": "q201-s0", "seed": 0, "config": {"max_steps": 100000}, "status": {"state": "completed", "exit_code": 0},
         "metrics": {"val_mse": [[100000, 1.704]]}},
        {"id": "failed-without-metrics", "seed": 2, "config": {"lr": 0.1}, "status": {"state": "failed", "exit_code": 1}},
        {"id": "still-running", "seed": 4, "config": {"lr": 0.1}, "status": {"state": "running"},
         "metrics": {"train/loss": [[0, 1.0]]}},
    ]

    def check(self, run, context):
        nonzero = run.exit_code not in (None, 0)
        if run.state not in ("failed", "killed") and not nonzero:
            return
        if not run.has_metrics:
            return
        how = run.state or "failed"
        if run.exit_code is not None:
            how += f" with exit code {run.exit_code}{_signal_note(run.exit_code)}"
        elif run.state == "killed":
            how += " (no exit status recorded: crashed, killed, or a stale RUNNING record)"
        last = {name: points[-1][0] for name, points in run.metrics.items() if points}
        reach = ""
        if last:
            step = max(last.values())
            reach = f" up to step {format_step(step)}" + (f" of {run.max_steps}" if run.max_steps else "")
        yield self.finding(f"run {run.id} {how} yet carries metrics{reach}: its partial numbers must not be read "
                           "as results", run_location(run.id),
                           {"state": run.state, "exit_code": run.exit_code, "last_steps": last})
