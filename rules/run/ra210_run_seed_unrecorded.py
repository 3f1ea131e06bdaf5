from auditor.findings import run_location
from auditor.rule import Rule


class RunSeedUnrecorded(Rule):
    id = "RA210"
    name = "run-seed-unrecorded"
    scope = "run"
    severity = "warning"
    summary = "The run recorded no seed, neither as a field nor under any config key the key map names."
    rationale = (
        "A run without a recorded seed cannot be re-run to the same numbers, and seed-to-seed variance "
        "cannot be told apart from a real effect. Which config keys mean 'seed' is set by [tool.auditor.key-map]."
    )
    incident = ("A project's runs logged no seed, so no result could be reproduced and no repeat could be matched with its "
                "original. The 20% spread between runs could not be traced to anything.")
    bad = [
        {"id": "no-seed", "config": {"lr": 0.1}, "git": {"sha": "e2dfbd8"}},
        {"id": "seed-null", "seed": None, "config": {"lr": 0.1, "seed": None}},
    ]
    good = [
        {"id": "field", "seed": 0, "config": {"lr": 0.1}},
        {"id": "seed-zero-in-config", "config": {"lr": 0.1, "seed": 0}},
        {"id": "nested", "config": {"trainer": {"seed": 7}}},
    ]

    def check(self, run, context):
        if run.seed is None and context.value(run, "seed") is None:
            keys = ", ".join(context.key_map.get("seed", [])[:4])
            yield self.finding(f"run {run.id} recorded no seed (no seed field, no config key among {keys}, ...)",
                               run_location(run.id), {"source": run.source})
