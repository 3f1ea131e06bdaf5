"""The statistics module against published numbers (the incident reports), scipy, and rliable's definitions."""

import json
import math
import warnings

import numpy as np
import pytest
import scipy.stats

from auditor.compare import stats

# future-seed-seed-instability.md: (printed mean, printed std, printed per-seed deltas)
FUTURE_SEED_TABLES = {
    "R2 ARC options-first": (+0.0339, 0.0205, [+0.0156, +0.0234, +0.0625]),
    "R3 ARC q-first": (-0.0052, 0.0097, [-0.0156, +0.0078, -0.0078]),
    "R4 Hotpot q-after L2048": (-0.0027, 0.0171, [+0.0084, +0.0104, -0.0269]),
    "R5 Hotpot q-first L2048": (-0.0090, 0.0085, [-0.0104, +0.0021, -0.0186]),
    "R6 Hotpot q-after L4096": (+0.0012, 0.0388, [+0.0382, +0.0179, -0.0525]),
    "R8 Hotpot alpha=-4": (-0.0056, 0.0519, [+0.0141, +0.0458, -0.0766]),
}


@pytest.mark.parametrize("name", sorted(FUTURE_SEED_TABLES))
def test_future_seed_tables_reproduce(name):
    printed_mean, printed_std, deltas = FUTURE_SEED_TABLES[name]
    # The printed deltas are rounded to 4 decimals, so the mean of them may be off by up to 0.5e-4, plus
    # the printed mean's own rounding.
    assert stats.mean(deltas) == pytest.approx(printed_mean, abs=1e-4)
    # The log's stds are population stds (ddof=0): that convention reproduces every table.
    assert stats.std(deltas, ddof=0) == pytest.approx(printed_std, abs=1e-4)
    assert abs(stats.std(deltas, ddof=1) - printed_std) > 1e-3


def test_future_seed_log_does_not_use_sample_std():
    # Documented because it matters: with ddof=1 (our default) R2's std is 0.0251, not the printed 0.0205.
    assert round(stats.std([0.0156, 0.0234, 0.0625]), 4) == 0.0251


def test_burgers_table_reproduces_with_sample_std():
    nrmse = [0.1247, 0.0831, 0.1047, 0.0849]  # burgers-unseeded-variance.md, the four runs
    assert stats.mean(nrmse) == pytest.approx(0.0994, abs=1e-4)  # 0.09935, printed as 0.0994
    assert round(stats.std(nrmse), 4) == 0.0195  # ddof=1
    assert round(stats.cv(nrmse) * 100, 1) == 19.7
    assert round(stats.cv(nrmse, ddof=0) * 100, 1) == 17.0  # the other convention does not give 19.7%


def test_std_and_cv_edge_cases():
    assert stats.std([0.5]) is None
    assert stats.std([0.5], ddof=0) == 0.0
    assert stats.cv([0.0, 0.0]) is None
    assert stats.cv([1.0]) is None


@pytest.mark.parametrize("values", [[1, 2, 3, 4], [0.1, 5.0, 0.3, 0.2, 0.9, 0.4, 12.0], list(range(10)), [3.0]])
def test_iqm_matches_rliable_definition(values):
    assert stats.iqm(values) == pytest.approx(scipy.stats.trim_mean(values, 0.25))


def test_sign_counts_and_noop():
    assert stats.sign_counts([0.01, 0.0, -0.02, 0.03]) == (2, 1, 1)
    assert stats.sign_counts([1e-5, -1e-5], rel_tol=1e-3, scales=[0.5, 0.5]) == (0, 2, 0)
    assert stats.noop([0.41, 0.43], [0.41, 0.43], paired=True)
    assert not stats.noop([0.41, 0.43], [0.43, 0.41], paired=True)  # same values, different seeds
    assert stats.noop([0.41, 0.43], [0.43, 0.41], paired=False)  # unseeded: as sorted lists
    assert stats.noop([0.1247, 0.0831], [0.12471, 0.08311], paired=False, rel_tol=1e-3)
    assert not stats.noop([0.1247, 0.0831], [0.12471, 0.08311], paired=False)  # exact by default
    assert not stats.noop([0.4], [0.4, 0.4], paired=False)  # different counts are not the same results
    assert not stats.noop([], [], paired=False)


def test_bootstrap_is_deterministic():
    b, t = [0.30, 0.31, 0.29, 0.33], [0.32, 0.30, 0.35, 0.36]
    first = stats.bootstrap_ci(b, t, paired=True)
    assert first == stats.bootstrap_ci(b, t, paired=True)
    assert stats.bootstrap_ci(b, t, paired=False, method="bca") == stats.bootstrap_ci(b, t, paired=False, method="bca")


def test_bootstrap_hand_computed_cases():
    # every delta equal: every replicate equals it
    assert stats.bootstrap_ci([1, 2, 3], [2, 3, 4], paired=True) == (1.0, 1.0)
    assert stats.bootstrap_ci([1, 2, 3], [2, 3, 4], paired=True, method="bca") == (1.0, 1.0)
    # two deltas: replicate means are 0, 0.5 or 1 with probabilities 1/4, 1/2, 1/4 -> 95% percentile [0, 1]
    assert stats.bootstrap_ci([0, 0], [0, 1], paired=True) == (0.0, 1.0)
    # too few runs: no interval
    assert stats.bootstrap_ci([1], [2], paired=True) is None
    assert stats.bootstrap_ci([1], [2, 3], paired=False) is None
    with pytest.raises(ValueError):
        stats.bootstrap_ci([1, 2], [1, 2], paired=True, method="studentized")


RNG = np.random.default_rng(1234)
DELTAS = RNG.normal(0.02, 0.03, size=12)


@pytest.mark.parametrize("method,scipy_method", [("percentile", "percentile"), ("bca", "BCa")])
def test_paired_ci_matches_scipy(method, scipy_method):
    ours = stats.bootstrap_ci(np.zeros_like(DELTAS), DELTAS, paired=True, method=method, reps=20000)
    ref = scipy.stats.bootstrap((DELTAS,), np.mean, confidence_level=0.95, n_resamples=20000, method=scipy_method,
                                random_state=np.random.default_rng(7)).confidence_interval
    width = ref.high - ref.low
    assert ours[0] == pytest.approx(ref.low, abs=0.05 * width)
    assert ours[1] == pytest.approx(ref.high, abs=0.05 * width)


@pytest.mark.parametrize("method,scipy_method", [("percentile", "percentile"), ("bca", "BCa")])
def test_unpaired_ci_matches_scipy_two_sample(method, scipy_method):
    b = RNG.normal(0.10, 0.02, size=8)
    t = RNG.normal(0.08, 0.03, size=10)
    ours = stats.bootstrap_ci(b, t, paired=False, method=method, reps=20000)

    def diff(x, y, axis=-1):
        return np.mean(y, axis=axis) - np.mean(x, axis=axis)

    ref = scipy.stats.bootstrap((b, t), diff, confidence_level=0.95, n_resamples=20000, method=scipy_method,
                                vectorized=True, random_state=np.random.default_rng(7)).confidence_interval
    width = ref.high - ref.low
    assert ours[0] == pytest.approx(ref.low, abs=0.06 * width)
    assert ours[1] == pytest.approx(ref.high, abs=0.06 * width)


def test_confidence_level_widens_interval():
    narrow = stats.bootstrap_ci(np.zeros(12), DELTAS, paired=True, level=0.80)
    wide = stats.bootstrap_ci(np.zeros(12), DELTAS, paired=True, level=0.99)
    assert wide[0] < narrow[0] < narrow[1] < wide[1]


def test_effect_summary_paired_and_unpaired():
    paired = stats.effect([0.30, 0.31, 0.32], [0.3382, 0.3279, 0.2675], paired=True)
    assert paired.deltas == pytest.approx([0.0382, 0.0179, -0.0525])
    assert paired.delta == pytest.approx(0.0012, abs=1e-4)
    assert paired.signs == (2, 0, 1)
    assert paired.noise == pytest.approx(stats.std(paired.deltas))
    unpaired = stats.effect([0.1247, 0.0831, 0.1047, 0.0849], [0.11, 0.079, 0.095], paired=False)
    assert unpaired.delta == pytest.approx(np.mean([0.11, 0.079, 0.095]) - 0.099350)
    assert unpaired.deltas == [] and unpaired.signs == (0, 0, 0)
    assert unpaired.noise == pytest.approx(max(unpaired.std_baseline, unpaired.std_treatment))
    assert unpaired.cv_baseline == pytest.approx(0.1966, abs=1e-4)


# -- small-n statistics: Student/Welch t and the exact permutation test ---------------------------

@pytest.mark.parametrize("df", [1, 2, 3, 4, 9, 29, 2.7, 13.4])
@pytest.mark.parametrize("p", [0.6, 0.9, 0.975, 0.995])
def test_t_quantile_matches_scipy(df, p):
    assert stats.t_quantile(p, df) == pytest.approx(scipy.stats.t.ppf(p, df), rel=1e-9)
    assert stats.t_cdf(stats.t_quantile(p, df), df) == pytest.approx(p, abs=1e-12)


def test_paired_t_interval_matches_scipy_ttest():
    deltas = np.array([0.005, 0.007])  # two same-sign deltas: p = 0.105, the interval must include 0
    lo, hi = stats.t_ci(np.zeros(2), deltas, paired=True)
    ref = scipy.stats.ttest_1samp(deltas, 0.0).confidence_interval(0.95)
    assert (lo, hi) == pytest.approx((ref.low, ref.high), rel=1e-9)
    assert lo < 0 < hi
    assert scipy.stats.ttest_1samp(deltas, 0.0).pvalue == pytest.approx(0.105, abs=1e-3)


def test_welch_interval_matches_scipy():
    b, t = RNG.normal(0.10, 0.02, size=4), RNG.normal(0.08, 0.05, size=6)
    lo, hi = stats.t_ci(b, t, paired=False, level=0.9)
    ref = scipy.stats.ttest_ind(t, b, equal_var=False).confidence_interval(0.9)
    assert (lo, hi) == pytest.approx((ref.low, ref.high), rel=1e-9)


def test_auto_method_is_t_below_30_seeds_and_bca_from_there():
    assert stats.resolve_method("auto", True, 2) == "t"
    assert stats.resolve_method("auto", False, 29) == "welch"
    assert stats.resolve_method("auto", True, 30) == "bca"
    assert stats.resolve_method("percentile", True, 3) == "percentile"
    two = stats.effect([0.300, 0.310], [0.305, 0.317], paired=True)
    assert two.method == "t" and two.ci[0] < 0 < two.ci[1]


def test_sign_flip_test_is_exact():
    test = stats.permutation_test([0, 0, 0], [0.01, 0.02, 0.03], paired=True)
    # all three deltas positive: only the all-plus and all-minus assignments are as extreme, 2 of 8
    assert (test.p_value, test.p_min, test.exact, test.name) == (0.25, 0.25, True, "sign-flip")
    assert stats.permutation_test([0, 0], [0, 0], paired=True).p_value == 1.0
    ref = scipy.stats.permutation_test((DELTAS,), np.mean, permutation_type="samples", n_resamples=np.inf)
    ours = stats.permutation_test(np.zeros_like(DELTAS), DELTAS, paired=True)
    assert ours.exact and ours.p_value == pytest.approx(ref.pvalue, abs=1e-12)


UNPAIRED_SAMPLES = [
    ([0.10, 0.12, 0.11], [0.14, 0.15, 0.13, 0.16]),  # evenly spaced: the mirror of every split exists
    ([0.70, 0.71, 0.69], [0.74, 0.75, 0.73, 0.76]),  # 3 vs 4, fully separated: p = 2/35, not 1/35
    ([0.70, 0.71, 0.69, 0.72, 0.70], [0.74, 0.75, 0.73, 0.76]),  # 5 vs 4: p = 2/126
    ([0.31, 0.29, 0.35, 0.30], [0.33, 0.28, 0.36]),  # overlapping, unequal
    ([0.5, 0.5, 0.6], [0.5, 0.6, 0.6, 0.7, 0.5]),  # ties across the sides
    ([0.70, 0.71, 0.69, 0.72], [0.74, 0.75, 0.73, 0.76]),  # equal sizes
    ([0.30, 0.35, 0.29], [0.31, 0.28, 0.34]),  # equal sizes, overlapping
]


@pytest.mark.parametrize("baseline,treatment", UNPAIRED_SAMPLES)
def test_unpaired_permutation_test_matches_scipy(baseline, treatment):
    def diff(x, y, axis=-1):
        return np.mean(y, axis=axis) - np.mean(x, axis=axis)

    ref = scipy.stats.permutation_test((baseline, treatment), diff, n_resamples=np.inf, vectorized=True)
    ours = stats.permutation_test(baseline, treatment, paired=False)
    assert ours.exact and ours.p_value == pytest.approx(ref.pvalue, abs=1e-12)
    # the floor it states is the smallest p any data of these sizes can give, and this p is never below it
    assert ours.p_min == pytest.approx(2 / math.comb(len(baseline) + len(treatment), len(treatment)))
    assert ours.p_value >= ours.p_min - 1e-12


@pytest.mark.parametrize("deltas", [[0.01, 0.02, 0.03, -0.005, 0.04], [0.01, -0.01, 0.02], [0.0, 0.01, 0.01, 0.02]])
def test_sign_flip_test_matches_scipy(deltas):
    ref = scipy.stats.permutation_test((deltas,), np.mean, permutation_type="samples", n_resamples=np.inf)
    ours = stats.permutation_test([0.0] * len(deltas), deltas, paired=True)
    assert ours.p_value == pytest.approx(ref.pvalue, abs=1e-12)


ZERO_SPREAD = [
    ([0.5, 0.25, 0.75], [0.51, 0.26, 0.76], True),  # identical deltas
    ([0.5, 0.5, 0.5], [0.5, 0.5, 0.5], True),  # nothing at all
    ([0.5, 0.5, 0.5], [0.6, 0.6, 0.6], False),  # both sides constant, unpaired
    ([0.5, 0.5, 0.5], [0.6, 0.7, 0.5], False),  # one side constant
    ([0.0, 0.0, 0.0], [0.0, 0.0, 0.0], True),  # zero means: CV undefined
    ([0.5] * 40, [0.51] * 40, True),  # the bootstrap path (n >= 30), all replicates equal
]


@pytest.mark.parametrize("baseline,treatment,paired", ZERO_SPREAD)
def test_zero_variance_never_divides_by_zero_or_gives_nan(baseline, treatment, paired):
    with np.errstate(all="raise"), warnings.catch_warnings():
        warnings.simplefilter("error")
        effect = stats.effect(baseline, treatment, paired=paired)
    numbers = [v for v in json.dumps(effect.to_json()).replace(",", " ").split() if "nan" in v.lower() or "inf" in v.lower()]
    assert numbers == []
    lo, hi = effect.ci
    assert lo <= effect.delta <= hi


def test_seeds_needed_for_the_exact_test():
    assert stats.seeds_needed(0.05, paired=True) == 6  # 2/64 = 0.031; 2/32 = 0.0625
    assert stats.seeds_needed(0.05, paired=False) == 4  # 2/C(8,4) = 0.029; 2/C(6,3) = 0.1
    assert stats.seeds_needed(0.01, paired=True) == 8
