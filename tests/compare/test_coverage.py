"""The interval `audit compare` reports has the coverage it claims at the seed counts people use.

10,000 simulated experiments per seed count, each with a true effect of exactly 0: a 95% interval must
exclude 0 in about 5% of them. The percentile bootstrap, the old default, fails this badly at n = 2
(its interval is [min delta, max delta]); the check of that is here too, so the choice stays justified.
"""

import numpy as np
import pytest

from auditor.compare import stats

EXPERIMENTS = 10_000


def _exclusion_rate(n: int, *, method: str, paired: bool, experiments: int = EXPERIMENTS) -> float:
    rng = np.random.default_rng(1234 + n)
    misses = 0
    for _ in range(experiments):
        baseline = rng.normal(0.70, 0.02, size=n)
        if paired:  # the seed shifts both sides alike; the treatment adds noise, no effect
            treatment = baseline + rng.normal(0.0, 0.01, size=n)
        else:
            treatment = rng.normal(0.70, 0.02, size=n)
        method_used = stats.resolve_method(method, paired, n)
        lo, hi = stats.interval(baseline, treatment, paired=paired, level=0.95, method=method_used, reps=400)
        misses += not (lo <= 0 <= hi)
    return misses / experiments


@pytest.mark.parametrize("n", [2, 3, 5, 10])
def test_paired_interval_excludes_a_null_effect_about_5_percent(n):
    rate = _exclusion_rate(n, method="auto", paired=True)
    # binomial sd at p=0.05 over 10,000 experiments is 0.0022: +-0.01 is more than 4 sd
    assert 0.04 <= rate <= 0.06, rate


@pytest.mark.parametrize("n", [2, 3, 5, 10])
def test_unpaired_welch_interval_is_not_anticonservative(n):
    # Welch's df approximation is slightly conservative at tiny n; it must never exclude 0 too often
    rate = _exclusion_rate(n, method="auto", paired=False, experiments=2000)
    assert 0.02 <= rate <= 0.07, rate


def test_percentile_bootstrap_undercovers_at_small_n():
    # why "auto" does not use it below 30 seeds: at n = 2 same-sign deltas (half of all experiments) exclude 0
    assert _exclusion_rate(2, method="percentile", paired=True, experiments=500) > 0.4
    assert _exclusion_rate(5, method="percentile", paired=True, experiments=500) > 0.08


def _supported_rate(n: int, experiments: int = 2000) -> float:
    """How often a true effect of 0 would pass the statistics of "effect supported": the t interval excludes 0
    AND the exact sign-flip test gives p <= 0.05 (RA312 / RA310)."""
    rng = np.random.default_rng(99 + n)
    passed = 0
    for _ in range(experiments):
        baseline = rng.normal(0.70, 0.02, size=n)
        treatment = baseline + rng.normal(0.0, 0.01, size=n)
        effect = stats.effect(baseline, treatment, paired=True)
        lo, hi = effect.ci
        passed += (lo > 0 or hi < 0) and effect.test.p_value <= 0.05
    return passed / experiments


@pytest.mark.parametrize("n", [3, 5, 6, 10])
def test_supported_needs_both_the_interval_and_the_exact_test(n):
    rate = _supported_rate(n)
    if n < stats.seeds_needed(0.05, paired=True):
        assert rate == 0.0  # the sign-flip test cannot reach 0.05: never "supported" by chance
    else:
        assert rate <= 0.06, rate
