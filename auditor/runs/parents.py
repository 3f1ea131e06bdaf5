"""Tracker parent runs that only group their children (MLflow nested runs: a parent run per setting, a child
run per seed).

The MLflow reader puts each child in its parent's group, named by the parent's run id (a hex string nobody
types). Here, once every run is read, such a group is named by the parent's run name ("lr-0.001") when that
name is unique among the groups (else it keeps the id), so `audit compare lr-0.001 lr-0.003` selects the
children and the derived comparisons read as the sweep does. A parent that logs no metric trained nothing:
it is folded into its group and not audited as a run (RA210 "recorded no seed" would be about nothing).
"""

from __future__ import annotations

from collections import Counter

from auditor.runs.record import Run


def fold_parents(runs: list[Run]) -> tuple[list[Run], list[Run]]:
    """(the runs without the folded parents, the folded parents). Children's groups are renamed in place."""
    by_id = {run.id: run for run in runs}
    children: dict[str, list[Run]] = {}
    for run in runs:
        if run.parent and run.parent in by_id and run.parent != run.id and run.group == run.parent:
            children.setdefault(run.parent, []).append(run)
    if not children:
        return runs, []
    names = {parent: by_id[parent].name for parent in children if by_id[parent].name}
    # Unique among the groups: not another parent's name, nor a group some other run records.
    taken = Counter(names.values())
    others = {run.group for run in runs if run.group and run.group not in children}
    for parent, kids in children.items():
        name = names.get(parent)
        if name and taken[name] == 1 and name not in others and name not in children:
            for kid in kids:
                kid.group = name
    folded = [by_id[parent] for parent in children if not by_id[parent].has_metrics]
    gone = {run.id for run in folded}
    return [run for run in runs if run.id not in gone], folded
