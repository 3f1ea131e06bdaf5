import signal

from auditor.findings import run_location
from auditor.rule import RunRule
from auditor.runs.steps import format_step, last_logged_step


def _signal_note(code: int) -> str:
    """128+N (a shell's report) or -N (Python's subprocess) means the process died of signal N."""
    number = code - 128 if 128 < code < 160 else -code if code < 0 else None
    try:
        return f" (signal {signal.Signals(number).name}{', often the OOM killer' if number == 9 else ''})" if number else ""
    except ValueError:
        return ""


class RunFailed(RunRule):
    id = "RA230"
    name = "run-failed"
    severity = "error"
    summary = ("A failed, killed or non-zero-exit run still carries metrics, or a completed run's metrics stop well "
               "before its last step: its partial numbers are not results.")
    rationale = (
        "Partial metrics of a run that died (a Slurm node failure with exit 120, a crash left as a stale "
        "RUNNING record, a SIGKILL) look like any other run's in a table; averaged with the finished seeds "
        "they silently change the result, or a half-trained number is read as a final one. A record that says "
        "`completed` but whose metrics stop well before `max_steps` (below `truncated_below` of it, default "
        "90%) with nothing recording why (an early-stopping setting) was cut off: a copy that stopped "
        "mid-file, or a run that ended early and was marked done."
    )
    incident = ("Two seeds of a run died with exit code 120 partway through, leaving partial logs that looked like results. "
                "Their numbers nearly went into the comparison as if the runs had finished.")
    params = {"truncated_below": 0.9}
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
    bad += [
        # valid YAML, state completed, but the history stops at step 70 of 300: a truncated record
        {"id": "cut-off", "seed": 0, "config": {"max_steps": 300}, "status": {"state": "completed", "exit_code": 0},
         "metrics": {"train/loss": [[s, 1.0 / (s + 1)] for s in range(0, 71, 10)]}},
    ]
    good = [
        # early stopping recorded in the config: ending before max_steps is the run's own decision
        {"id": "early-stopped", "seed": 0, "config": {"max_steps": 300, "early_stopping": {"patience": 3}},
         "status": {"state": "completed", "exit_code": 0},
         "metrics": {"train/loss": [[s, 1.0 / (s + 1)] for s in range(0, 71, 10)]}},
        {"id": "q201-s0", "seed": 0, "config": {"max_steps": 100000}, "status": {"state": "completed", "exit_code": 0},
         "metrics": {"val_mse": [[100000, 1.704]]}},
        {"id": "failed-without-metrics", "seed": 2, "config": {"lr": 0.1}, "status": {"state": "failed", "exit_code": 1}},
        {"id": "still-running", "seed": 4, "config": {"lr": 0.1}, "status": {"state": "running"},
         "metrics": {"train/loss": [[0, 1.0]]}},
    ]

    def check(self, run, _context):
        nonzero = run.exit_code not in (None, 0)
        if run.state == "completed" and not nonzero:
            yield from self._truncated(run)
            return
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
            reach = f" up to step {format_step(last_logged_step(run))}" + (f" of {run.max_steps}" if run.max_steps else "")
        yield self.finding(f"run {run.id} {how} yet carries metrics{reach}: its partial numbers must not be read "
                           "as results", run_location(run.id),
                           {"state": run.state, "exit_code": run.exit_code, "last_steps": last})

    def _truncated(self, run):
        if not run.max_steps or not run.metrics or _early_stopping(run.config):
            return
        last = last_logged_step(run)
        if last is None or last >= float(self.options["truncated_below"]) * run.max_steps:
            return
        yield self.finding(
            f"run {run.id} is marked completed, but its metrics stop at step {format_step(last)} of {run.max_steps} "
            f"({last / run.max_steps:.0%}) and nothing records why: the record is truncated or the run ended early; "
            "its numbers are not final results", run_location(run.id),
            {"state": run.state, "last_step": last, "max_steps": run.max_steps, "truncated": True})


def _early_stopping(config) -> bool:
    """A config that turns on early stopping (any key naming it, with a value that is not off)."""
    from auditor.runs.record import flatten

    for key, value in flatten(config or {}).items():
        if ("early_stop" in key.lower() or "earlystop" in key.lower()) and value not in (None, False, 0, "", "false"):
            return True
    return False
