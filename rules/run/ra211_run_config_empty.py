from auditor.findings import run_location
from auditor.rule import Rule


class RunConfigEmpty(Rule):
    id = "RA211"
    name = "run-config-empty"
    scope = "run"
    severity = "warning"
    summary = "The run's config is missing or empty: its hyper-parameters are not on record."
    rationale = (
        "An empty config means the settings that produced the numbers live only in a shell history or a "
        "script that has since changed; the run cannot be compared or repeated."
    )
    incident = ("A project's tracker recorded empty config dictionaries for its runs. Which learning rate, model size or data"
                " produced which number was lost.")
    bad = [
        {"id": "empty", "seed": 0, "config": {}},
        {"id": "missing", "seed": 0},
    ]
    good = [
        {"id": "has-config", "seed": 0, "config": {"lr": 0.1}},
    ]

    def check(self, run, context):
        if not run.config:
            yield self.finding(f"run {run.id} recorded an empty config: its hyper-parameters are unknown",
                               run_location(run.id), {"source": run.source})
