"""Derived comparisons on normalized run records (the nightly's end-to-end tests are in
tests/nightly/test_nightly_derived_comparisons.py): which baseline, which metric, which runs count, the cap."""

from __future__ import annotations

import logging

from auditor.compare.api import ComparisonSpec
from auditor.compare.derive import derive_comparisons
from auditor.config import CompareSettings, Config


def _runs(group: str, lr: float, *, seeds=(0, 1, 2), started: float | None = None, state: str = "completed",
          metrics: dict | None = None) -> list:
    from auditor.runs.record import Run

    return [Run(id=f"{group}-s{seed}", folder=f"/r/{group}-s{seed}", group=group, seed=seed, state=state,
                config={"lr": lr, "seed": seed, "run_name": f"{group}-{seed}"},
                metrics=metrics or {"val/acc": [(100.0, 0.5 + seed / 100)], "eval/runtime": [(100.0, 12.0)],
                                    "train/loss": [(100.0, 0.1)]},
                started_at=None if started is None else started + seed)
            for seed in seeds]


def _config(**compare) -> Config:
    return Config(compare=CompareSettings(**compare))


def test_the_group_whose_runs_started_first_is_the_baseline_and_only_eval_metrics_are_compared():
    runs = _runs("a-new", 1e-3, started=2000.0) + _runs("z-old", 3e-4, started=1000.0)
    (spec,) = derive_comparisons(runs, _config(), [])
    assert (spec.baseline, spec.treatment, spec.metric) == ("z-old", "a-new", "val/acc")
    assert spec.treatment_keys == ["lr"]  # run_name differs on every run: not a treatment
    assert spec.derived.endswith("baseline z-old: its runs started first")


def test_configured_metrics_and_failed_or_single_seed_groups():
    runs = (_runs("base", 3e-4) + _runs("fast", 1e-3) + _runs("dead", 3e-3, state="failed")
            + _runs("once", 1e-2, seeds=(0,)))
    specs = derive_comparisons(runs, _config(metrics=["train/loss", "val/missing"]), [])
    assert [(s.baseline, s.treatment, s.metric) for s in specs] == [("base", "fast", "train/loss")]


def test_declared_pairs_are_left_to_comparisons_yaml_and_the_cap_warns(caplog):
    runs = [run for i in range(5) for run in _runs(f"g{i}", 10.0 ** -i)]
    declared = [ComparisonSpec(name="mine", baseline="g1", treatment="g0", metric="val/acc")]
    with caplog.at_level(logging.WARNING, logger="auditor"):
        specs = derive_comparisons(runs, _config(max_derived=3), declared)
    assert [(s.baseline, s.treatment) for s in specs] == [("g0", "g2"), ("g0", "g3"), ("g0", "g4")]
    assert "9 comparisons could be derived; the first 3 are checked" in caplog.text


def test_one_key_pairs_found_without_comparing_every_pair_are_the_pairwise_ones():
    from auditor.runs.record import Run

    runs = []
    for g in range(60):
        config = {"lr": g % 4, "wd": (g // 4) % 3, "depth": g // 12}
        if g % 7 == 0:
            config["ema"] = True  # set on some groups only: "unset vs value" is a difference too
        runs += [Run(id=f"g{g:02d}-s{s}", folder="/r", group=f"g{g:02d}", seed=s, state="completed",
                     config={**config, "seed": s}, reported={"val/acc": 0.5}) for s in range(2)]
    everything = dict(max_derived=10_000)
    one = derive_comparisons(runs, _config(**everything), [])
    pairwise = derive_comparisons(runs, _config(max_treatment_keys=2, **everything), [])
    assert one and [s.name for s in one] == [s.name for s in pairwise if len(s.treatment_keys) == 1]


def test_ungrouped_runs_keep_their_names_when_newer_runs_add_a_flag():
    from auditor.compare.groups import conditions
    from auditor.runs.record import Run

    def ungrouped(name: str, **config) -> list:
        return [Run(id=f"{name}-s{seed}", folder=f"/r/{name}-s{seed}", seed=seed, config={**config, "seed": seed})
                for seed in range(2)]

    older = ungrouped("a", lr=3e-4) + ungrouped("b", lr=1e-3)
    assert sorted(conditions(older, Config())) == ["lr=0.0003", "lr=0.001"]
    newer = older + ungrouped("c", lr=1e-3, warmup=100)  # a flag the older runs never had
    named = conditions(newer, Config())
    assert sorted(named) == ["lr=0.0003", "lr=0.001", "lr=0.001,warmup=100"]
    assert [r.id for r in named["lr=0.001"]] == ["b-s0", "b-s1"]
    # runs that set nothing the others differ in are named by the keys they lack, and nothing is named twice
    bare = conditions(ungrouped("d", lr=1.0) + ungrouped("e", lr=1.0, wd=0.1), Config())
    assert sorted(bare) == ["wd=(unset)", "wd=0.1"]
    # a new value of a key every group sets does rename them: that key now tells them apart
    shared = ungrouped("a", lr=3e-4, wd=0.1) + ungrouped("b", lr=1e-3, wd=0.1)
    assert sorted(conditions(shared, Config())) == ["lr=0.0003", "lr=0.001"]
    assert sorted(conditions(shared + ungrouped("c", lr=1e-3, wd=0.2), Config())) == \
        ["lr=0.0003,wd=0.1", "lr=0.001,wd=0.1", "lr=0.001,wd=0.2"]
