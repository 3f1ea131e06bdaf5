"""When the seeds support an effect: the exact test and the interval decide; sign flips and a spread larger
than the effect are caveats once enough seeds exclude chance, and their findings stay the same ones as the
numbers move."""

from auditor.compare.api import run_rules, summarize_comparison
from auditor.compare.examples import comparison_from_example, group
from auditor.registry import rule_class
from auditor.rule import CompareRule

BASE = [0.700, 0.712, 0.695, 0.705, 0.690, 0.708, 0.701, 0.699, 0.703, 0.696]


def _summary(baseline: list[float], treatment: list[float]) -> dict:
    comparison = comparison_from_example({"baseline": group("base", baseline), "treatment": group("fs", treatment),
                                          "metric": "val/acc"})
    rules = [cls() for cls in _compare_rules()]
    return summarize_comparison(comparison, run_rules(comparison, rules))


def _compare_rules() -> list[type]:
    from auditor.registry import all_rule_classes

    return [cls for cls in all_rule_classes(()).values() if issubclass(cls, CompareRule)]


def test_ten_seeds_that_all_improve_support_the_effect_though_their_spread_exceeds_it():
    deltas = [0.001, 0.035, 0.002, 0.004, 0.003, 0.030, 0.002, 0.001, 0.036, 0.004]  # all positive, std > mean
    summary = _summary(BASE, [b + d for b, d in zip(BASE, deltas, strict=True)])
    assert summary["verdict"] == "supported", summary
    assert "seed spread too large (RA315)" in summary["caveats"]


def test_three_seeds_whose_signs_disagree_do_not_support_it():
    summary = _summary([0.300, 0.310, 0.320], [0.3382, 0.3279, 0.2675])
    assert summary["verdict"] == "not supported"
    assert "per-seed deltas flip sign (RA311)" in summary["caveats"] + summary["reasons"]


def test_the_spread_finding_keeps_its_fingerprint_when_a_side_crosses_the_cv_threshold():
    rule = rule_class("RA315")()
    calm = comparison_from_example({"baseline": group("base", [0.30, 0.31, 0.29]),
                                    "treatment": group("fs", [0.31, 0.30, 0.30]), "metric": "val/acc"})
    wild = comparison_from_example({"baseline": group("base", [0.30, 0.31, 0.29, 0.30, 0.31]),
                                    "treatment": group("fs", [0.31, 0.27, 0.33, 0.22, 0.36]), "metric": "val/acc"})
    (before,), (after,) = list(rule.check(calm)), list(rule.check(wild))
    assert "CV" not in before.message and "fs CV" in after.message  # the message gains the CV part
    assert before.fingerprint == after.fingerprint
