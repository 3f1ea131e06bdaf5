"""The compare rules' examples are small dicts: baseline runs, treatment runs (native run records), the
metric and the treatment keys. This turns one into a Comparison, and names its sides the way a
person would on the command line (the group, or the run id of a lone ungrouped run)."""

from __future__ import annotations

from pathlib import Path

from auditor.compare.comparison import Comparison, build_comparison
from auditor.compare.groups import Side
from auditor.compare.runsource import run_from_native
from auditor.config import Config


def side_name(run_dicts: list[dict]) -> str:
    groups = {r.get("group") for r in run_dicts}
    if len(groups) == 1 and None not in groups:
        return str(next(iter(groups)))
    if len(run_dicts) == 1:
        return str(run_dicts[0]["id"])
    raise ValueError("an example side must share one group, or be a single run")


def comparison_from_example(example: dict, config: Config | None = None, root: Path | str = "/examples") -> Comparison:
    config = config or Config()
    sides = []
    for key in ("baseline", "treatment"):
        runs = [run_from_native(d, folder=Path(root) / d["id"], config=config) for d in example[key]]
        sides.append(Side(side_name(example[key]), "group", runs))
    return build_comparison(sides[0], sides[1], example["metric"], config=config,
                            higher_is_better=example.get("higher_is_better"),
                            treatment_keys=example.get("treatment_keys"), repo=example.get("repo"))


def group(name, values, *, metric="val/acc", seeds=None, states=None, config=None, seeded=True):
    """Native run records of one condition: one run per value (None = a run without that metric)."""
    runs = []
    seeds = list(seeds) if seeds is not None else list(range(len(values)))
    for i, (seed, value) in enumerate(zip(seeds, values, strict=False)):
        record = {"id": f"{name}-s{seed}" if seeded else f"{name}-{i}", "group": name,
                  "config": {**(config or {"lr": 3e-4}), **({"seed": seed} if seeded else {})},
                  "metrics": {metric: [[100, value]]} if value is not None else {"train/loss": [[40, 2.5]]}}
        if seeded:
            record["seed"] = seed
        if states and states.get(seed):
            state, code = states[seed]
            record["status"] = {"state": state, "exit_code": code}
        runs.append(record)
    return runs


def findings_for_example(cls, example: dict, folder: Path, _plugins: tuple[str, ...] = ()):
    """The example adapter of the compare scope (auditor/scopes.py): the rule's findings on it."""
    from auditor.meta import run_rule

    comparison = comparison_from_example(example, root=folder)
    return run_rule(cls(), comparison.location, comparison)
