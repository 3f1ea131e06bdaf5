"""The statistics behind `audit compare`: small, numpy only, deterministic.

Conventions (checked against the incident reports in tests/compare/test_stats.py):
- `std` is the sample standard deviation (ddof=1) unless asked otherwise. The burgers report's
  CV of 19.7% uses ddof=1; the future-seed log's stds use ddof=0 (population), so `std` takes `ddof`.
- Deltas are treatment - baseline. Paired when both sides have the same seeds, otherwise a
  difference of means.
- The interval of the mean delta: Student t (paired deltas) or Welch t (unpaired) below
  `T_BELOW` seeds, the bias-corrected bootstrap from there on (method "auto"). The percentile
  bootstrap's interval at n = 2 is [min delta, max delta]: it never includes 0 when two deltas share
  a sign, so it is only ever used when asked for. tests/compare/test_coverage.py checks by simulation
  that the 95% interval excludes a true effect of 0 in about 5% of experiments at n = 2, 3, 5, 10.
- Beside the interval, an exact permutation test (sign flips of the paired deltas; relabelling of the
  runs when unpaired) gives a p-value that assumes nothing about the distribution.
- The bootstrap and the sampled permutations draw from a fixed seed: same numbers, same output.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import combinations
from statistics import NormalDist
from typing import Sequence

import numpy as np

DEFAULT_REPS = 10_000
DEFAULT_SEED = 0
CI_METHODS = ("auto", "t", "percentile", "bca")
BOOTSTRAP_METHODS = ("percentile", "bca")
T_BELOW = 30  # "auto": Student/Welch t below this many seeds, BCa bootstrap from there on
EXACT_PERMUTATIONS = 1 << 16  # enumerate up to this many permutations, sample beyond
METHOD_NAMES = {"t": "Student t", "welch": "Welch t", "percentile": "percentile bootstrap", "bca": "BCa bootstrap"}


def mean(values: Sequence[float]) -> float:
    return float(np.mean(np.asarray(values, dtype=float)))


def std(values: Sequence[float], ddof: int = 1) -> float | None:
    """Standard deviation; None when there are too few values for the chosen ddof."""
    x = np.asarray(values, dtype=float)
    if x.size - ddof <= 0:
        return None
    return float(np.std(x, ddof=ddof))


def cv(values: Sequence[float], ddof: int = 1) -> float | None:
    """Coefficient of variation, std / |mean|; None for fewer than two values or a zero mean."""
    s = std(values, ddof)
    m = mean(values) if len(values) else 0.0
    if s is None or m == 0:
        return None
    return s / abs(m)


def iqm(values: Sequence[float]) -> float:
    """Interquartile mean as rliable defines it (scipy.stats.trim_mean(x, 0.25)): drop the lowest and
    highest quarter (rounded down) and average the rest."""
    x = np.sort(np.asarray(values, dtype=float))
    cut = int(0.25 * x.size)
    return float(np.mean(x[cut:x.size - cut]))


def is_zero(value: float, scale: float, abs_tol: float, rel_tol: float) -> bool:
    return abs(value) <= max(abs_tol, rel_tol * abs(scale))


def sign_counts(deltas: Sequence[float], abs_tol: float = 0.0, rel_tol: float = 0.0,
                scales: Sequence[float] | None = None) -> tuple[int, int, int]:
    """(positive, zero, negative) counts; a delta within tolerance of zero counts as zero."""
    scales = scales if scales is not None else [0.0] * len(deltas)
    pos = zero = neg = 0
    for d, s in zip(deltas, scales, strict=False):
        if is_zero(d, s, abs_tol, rel_tol):
            zero += 1
        elif d > 0:
            pos += 1
        else:
            neg += 1
    return pos, zero, neg


def noop(baseline: Sequence[float], treatment: Sequence[float], *, paired: bool,
         abs_tol: float = 0.0, rel_tol: float = 0.0) -> bool:
    """True when the treatment changed nothing: equal per paired seed, or (unseeded) as sorted lists."""
    if not baseline or len(baseline) != len(treatment):
        return False
    a, b = (list(baseline), list(treatment)) if paired else (sorted(baseline), sorted(treatment))
    return all(is_zero(y - x, x, abs_tol, rel_tol) for x, y in zip(a, b, strict=False))


# -- bootstrap ------------------------------------------------------------------------------


def _mean_delta(baseline: np.ndarray, treatment: np.ndarray, paired: bool) -> float:
    return float(np.mean(treatment - baseline)) if paired else float(np.mean(treatment) - np.mean(baseline))


def _replicates(baseline: np.ndarray, treatment: np.ndarray, paired: bool, reps: int, seed: int) -> np.ndarray:
    """Bootstrap replicates of the mean delta: resample seed pairs together when paired, each side
    on its own otherwise (the two-sample bootstrap)."""
    rng = np.random.default_rng(seed)
    if paired:
        deltas = treatment - baseline
        idx = rng.integers(0, deltas.size, size=(reps, deltas.size))
        return deltas[idx].mean(axis=1)
    ib = rng.integers(0, baseline.size, size=(reps, baseline.size))
    it = rng.integers(0, treatment.size, size=(reps, treatment.size))
    return treatment[it].mean(axis=1) - baseline[ib].mean(axis=1)


def _jackknife(baseline: np.ndarray, treatment: np.ndarray, paired: bool) -> np.ndarray:
    """Leave-one-out estimates (for the BCa acceleration): one pair at a time when paired, one
    observation of either side at a time otherwise."""
    if paired:
        deltas = treatment - baseline
        n = deltas.size
        return (deltas.sum() - deltas) / (n - 1)
    out = []
    for i in range(baseline.size):
        out.append(np.mean(treatment) - np.mean(np.delete(baseline, i)))
    for i in range(treatment.size):
        out.append(np.mean(np.delete(treatment, i)) - np.mean(baseline))
    return np.asarray(out)


def bootstrap_ci(baseline: Sequence[float], treatment: Sequence[float], *, paired: bool,
                 level: float = 0.95, method: str = "percentile", reps: int = DEFAULT_REPS,
                 seed: int = DEFAULT_SEED) -> tuple[float, float] | None:
    """Confidence interval of the mean delta (treatment - baseline); None when it cannot be estimated
    (fewer than two pairs, or fewer than two runs on a side when unpaired)."""
    if method not in BOOTSTRAP_METHODS:
        raise ValueError(f"unknown bootstrap CI method {method!r}; one of {', '.join(BOOTSTRAP_METHODS)}")
    if not 0 < level < 1:
        raise ValueError(f"confidence level must be between 0 and 1, got {level}")
    b = np.asarray(baseline, dtype=float)
    t = np.asarray(treatment, dtype=float)
    if (paired and (b.size < 2 or b.size != t.size)) or (not paired and min(b.size, t.size) < 2):
        return None
    boot = _replicates(b, t, paired, reps, seed)
    alpha = (1 - level) / 2
    if method == "percentile":
        lo, hi = np.quantile(boot, [alpha, 1 - alpha])
    else:
        lo, hi = _bca(boot, _mean_delta(b, t, paired), _jackknife(b, t, paired), alpha)
    # A resample whose mean is exactly 0 comes out as +-1e-17 in floats: that bound is 0, and whether the
    # interval "includes 0" must not hinge on rounding noise.
    tiny = 1e-12 * float(max(np.abs(b).max(), np.abs(t).max(), 1e-300))
    return tuple(0.0 if abs(bound) <= tiny else float(bound) for bound in (lo, hi))


def _bca(boot: np.ndarray, estimate: float, jack: np.ndarray, alpha: float) -> tuple[float, float]:
    """Efron's bias-corrected and accelerated interval. Falls back to the plain percentiles when the
    replicates are degenerate (all equal) or the bias correction is infinite."""
    normal = NormalDist()
    below = np.mean(boot < estimate) + 0.5 * np.mean(boot == estimate)
    if below <= 0 or below >= 1 or np.all(boot == boot[0]):
        lo, hi = np.quantile(boot, [alpha, 1 - alpha])
        return float(lo), float(hi)
    z0 = normal.inv_cdf(float(below))
    diffs = jack.mean() - jack
    denom = 6.0 * (np.sum(diffs ** 2) ** 1.5)
    accel = float(np.sum(diffs ** 3) / denom) if denom > 0 else 0.0
    bounds = []
    for q in (alpha, 1 - alpha):
        z = normal.inv_cdf(q)
        adjusted = normal.cdf(z0 + (z0 + z) / (1 - accel * (z0 + z)))
        bounds.append(float(np.quantile(boot, min(max(adjusted, 0.0), 1.0))))
    return bounds[0], bounds[1]


# -- Student t --------------------------------------------------------------------------------


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (modified Lentz)."""
    tiny, qab, qap, qam = 1e-300, a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 500):
        m2 = 2 * m
        for numerator in (m * (b - m) * x / ((qam + m2) * (a + m2)), -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + numerator / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < 1e-15:
            break
    return h


def _betainc(a: float, b: float, x: float) -> float:
    """The regularized incomplete beta function I_x(a, b)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _betacf(a, b, x) / a
    return 1.0 - front * _betacf(b, a, 1.0 - x) / b


def t_cdf(t: float, df: float) -> float:
    """P(T <= t) for Student's t with `df` degrees of freedom (df need not be an integer: Welch)."""
    tail = 0.5 * _betainc(df / 2.0, 0.5, df / (df + t * t))
    return 1.0 - tail if t >= 0 else tail


def t_pdf(t: float, df: float) -> float:
    log = math.lgamma((df + 1) / 2) - math.lgamma(df / 2) - 0.5 * math.log(df * math.pi)
    return math.exp(log - (df + 1) / 2 * math.log1p(t * t / df))


@lru_cache(maxsize=4096)
def t_quantile(p: float, df: float) -> float:
    """The t value with P(T <= t) = p: safeguarded Newton on the CDF (no scipy in the auditor's dependencies)."""
    if not 0 < p < 1:
        raise ValueError(f"quantile must be between 0 and 1, got {p}")
    if p < 0.5:
        return -t_quantile(1.0 - p, df)
    lo, hi = 0.0, 1.0
    while t_cdf(hi, df) < p:
        lo, hi = hi, hi * 2.0
    x = (lo + hi) / 2.0
    for _ in range(100):
        error = t_cdf(x, df) - p
        if error < 0:
            lo = x
        else:
            hi = x
        step = error / max(t_pdf(x, df), 1e-300)
        if abs(step) <= 1e-14 * max(1.0, abs(x)):
            return x - step
        candidate = x - step
        x = candidate if lo < candidate < hi else (lo + hi) / 2.0
        if hi - lo <= 1e-15 * hi:
            break
    return x


def t_ci(baseline: Sequence[float], treatment: Sequence[float], *, paired: bool,
         level: float = 0.95) -> tuple[float, float] | None:
    """The t interval of the mean delta: Student t on the paired deltas, Welch's t for two independent
    samples. None with fewer than two pairs (or fewer than two runs on a side, unpaired)."""
    b = np.asarray(baseline, dtype=float)
    t = np.asarray(treatment, dtype=float)
    if paired:
        if b.size < 2 or b.size != t.size:
            return None
        deltas = t - b
        center, se, df = float(deltas.mean()), float(deltas.std(ddof=1)) / math.sqrt(deltas.size), deltas.size - 1.0
    else:
        if min(b.size, t.size) < 2:
            return None
        vb, vt = float(b.var(ddof=1)) / b.size, float(t.var(ddof=1)) / t.size
        center, se = float(t.mean() - b.mean()), math.sqrt(vb + vt)
        df = (vb + vt) ** 2 / (vb ** 2 / (b.size - 1) + vt ** 2 / (t.size - 1)) if se > 0 else 1.0
    if se == 0:
        return center, center
    half = t_quantile(1.0 - (1.0 - level) / 2.0, df) * se
    return center - half, center + half


# -- exact permutation test -------------------------------------------------------------------


@dataclass
class PermutationTest:
    p_value: float
    p_min: float  # the smallest p-value this many runs can give: below alpha or the test cannot reject
    exact: bool  # every permutation enumerated (else EXACT_PERMUTATIONS sampled ones)
    name: str  # "sign-flip" (paired) | "permutation" (unpaired)


def permutation_test(baseline: Sequence[float], treatment: Sequence[float], *, paired: bool,
                     seed: int = DEFAULT_SEED) -> PermutationTest | None:
    """Two-sided p-value of "the treatment changes nothing": paired, every sign assignment of the
    per-seed deltas; unpaired, every split of the pooled runs into sides of the same sizes. Twice the
    share of assignments whose mean delta is at least as extreme as the observed one on its side
    (scipy.stats.permutation_test's two-sided p), so it cannot go below 2 / 2^n paired, 2 / C(m+n, n)
    unpaired."""
    b = np.asarray(baseline, dtype=float)
    t = np.asarray(treatment, dtype=float)
    rng = np.random.default_rng(seed)
    if paired:
        if b.size < 1 or b.size != t.size:
            return None
        deltas = t - b
        n = deltas.size
        exact = 2 ** n <= EXACT_PERMUTATIONS
        if exact:
            signs = ((np.arange(2 ** n)[:, None] >> np.arange(n)) & 1) * 2 - 1
        else:
            signs = rng.choice(np.array([-1, 1]), size=(EXACT_PERMUTATIONS, n))
        stats_ = (signs * deltas).mean(axis=1)
        observed, scale, p_min, name = float(deltas.mean()), float(np.abs(deltas).max(initial=0.0)), 2.0 / 2 ** n, "sign-flip"
    else:
        if b.size < 1 or t.size < 1:
            return None
        pooled = np.concatenate([b, t])
        total = math.comb(pooled.size, t.size)
        exact = total <= EXACT_PERMUTATIONS
        if exact:
            picks = np.array(list(combinations(range(pooled.size), t.size)))
        else:
            picks = np.argsort(rng.random((EXACT_PERMUTATIONS, pooled.size)), axis=1)[:, :t.size]
        chosen = np.zeros((picks.shape[0], pooled.size), dtype=bool)
        np.put_along_axis(chosen, picks, True, axis=1)
        t_means = (chosen * pooled).sum(axis=1) / t.size
        b_means = (~chosen * pooled).sum(axis=1) / b.size
        stats_ = t_means - b_means
        observed, scale = float(t.mean() - b.mean()), float(np.abs(pooled).max(initial=0.0))
        p_min, name = min(1.0, 2.0 / total), "permutation"
    tol = 1e-9 * max(scale, 1e-300)
    # Two-sided as scipy.stats.permutation_test defines it: twice the smaller one-sided tail. Counting
    # |statistic| >= |observed| instead halves p when the sides differ in size (the split that mirrors the
    # observed one does not exist), below the 2 / C(m+n, n) floor stated beside it.
    lower = float(np.mean(stats_ <= observed + tol))
    upper = float(np.mean(stats_ >= observed - tol))
    p = min(1.0, 2.0 * min(lower, upper))
    return PermutationTest(p_value=p, p_min=min(1.0, p_min), exact=exact, name=name)


def seeds_needed(alpha: float, *, paired: bool) -> int:
    """The fewest seeds (pairs; unpaired, runs per side) at which the exact test can reach p <= alpha:
    2 / 2^n paired, 2 / C(2n, n) unpaired. 6 pairs (or 4 runs per side) at alpha = 0.05."""
    n = 1
    while 2.0 / (2 ** n if paired else math.comb(2 * n, n)) > alpha:
        n += 1
    return n


def resolve_method(method: str, paired: bool, n: int) -> str:
    """The interval actually used: "auto" is t (Student paired, Welch unpaired) below T_BELOW seeds."""
    if method == "auto":
        method = "t" if n < T_BELOW else "bca"
    if method == "t" and not paired:
        return "welch"
    return method


def interval(baseline: Sequence[float], treatment: Sequence[float], *, paired: bool, level: float, method: str,
             reps: int = DEFAULT_REPS, seed: int = DEFAULT_SEED) -> tuple[float, float] | None:
    if method in ("t", "welch"):
        return t_ci(baseline, treatment, paired=paired, level=level)
    return bootstrap_ci(baseline, treatment, paired=paired, level=level, method=method, reps=reps, seed=seed)


# -- the whole summary ----------------------------------------------------------------------


@dataclass
class Effect:
    """What the seeds say about treatment - baseline."""

    paired: bool
    n_baseline: int
    n_treatment: int
    mean_baseline: float | None
    mean_treatment: float | None
    std_baseline: float | None
    std_treatment: float | None
    cv_baseline: float | None
    cv_treatment: float | None
    delta: float | None  # mean of per-seed deltas (paired) or difference of means
    deltas: list[float] = field(default_factory=list)  # per pair, in seed order (paired only)
    std_delta: float | None = None  # sample std of the per-seed deltas (paired only)
    ci: tuple[float, float] | None = None
    level: float = 0.95
    method: str = "t"  # the interval used: t | welch | percentile | bca
    signs: tuple[int, int, int] = (0, 0, 0)  # (+, =, -) of the per-seed deltas
    test: PermutationTest | None = None  # the exact permutation test beside the interval

    @property
    def n(self) -> int:
        """Seeds behind the interval: pairs when paired, the smaller side otherwise."""
        return len(self.deltas) if self.paired else min(self.n_baseline, self.n_treatment)

    @property
    def sizes(self) -> str:
        """The runs behind the exact test, as its floor depends on them: "5 paired seeds", "4 runs per side",
        "3 and 4 runs" (baseline and treatment)."""
        if self.paired:
            return f"{self.n} paired seed{'s' if self.n != 1 else ''}"
        if self.n_baseline == self.n_treatment:
            return f"{self.n} run{'s' if self.n != 1 else ''} per side"
        return f"{self.n_baseline} and {self.n_treatment} runs"

    @property
    def method_name(self) -> str:
        return METHOD_NAMES.get(self.method, self.method)

    @property
    def noise(self) -> float | None:
        """The seed-to-seed spread an effect must beat: the std of the paired deltas, else the larger
        of the two sides' stds."""
        if self.paired:
            return self.std_delta
        spreads = [s for s in (self.std_baseline, self.std_treatment) if s is not None]
        return max(spreads) if spreads else None

    def to_json(self) -> dict:
        return {
            "paired": self.paired, "n_baseline": self.n_baseline, "n_treatment": self.n_treatment,
            "mean_baseline": self.mean_baseline, "mean_treatment": self.mean_treatment,
            "std_baseline": self.std_baseline, "std_treatment": self.std_treatment,
            "cv_baseline": self.cv_baseline, "cv_treatment": self.cv_treatment,
            "delta": self.delta, "deltas": self.deltas, "std_delta": self.std_delta,
            "ci": list(self.ci) if self.ci else None, "ci_level": self.level, "ci_method": self.method,
            "signs": {"positive": self.signs[0], "zero": self.signs[1], "negative": self.signs[2]},
            "permutation_test": ({"name": self.test.name, "p_value": self.test.p_value, "p_min": self.test.p_min,
                                  "exact": self.test.exact} if self.test else None),
        }


def effect(baseline: Sequence[float], treatment: Sequence[float], *, paired: bool, level: float = 0.95,
           method: str = "auto", reps: int = DEFAULT_REPS, seed: int = DEFAULT_SEED,
           zero_abs_tol: float = 0.0, zero_rel_tol: float = 0.0) -> Effect:
    """All the numbers of one comparison. When paired, baseline[i] and treatment[i] share a seed."""
    b = [float(v) for v in baseline]
    t = [float(v) for v in treatment]
    deltas = [y - x for x, y in zip(b, t, strict=False)] if paired else []
    if b and t:
        delta = mean(deltas) if paired else mean(t) - mean(b)
    else:
        delta = None
    method = resolve_method(method, paired, len(deltas) if paired else min(len(b), len(t)))
    return Effect(
        paired=paired, n_baseline=len(b), n_treatment=len(t),
        mean_baseline=mean(b) if b else None, mean_treatment=mean(t) if t else None,
        std_baseline=std(b), std_treatment=std(t), cv_baseline=cv(b), cv_treatment=cv(t),
        delta=delta, deltas=deltas, std_delta=std(deltas) if paired else None,
        ci=interval(b, t, paired=paired, level=level, method=method, reps=reps, seed=seed) if b and t else None,
        level=level, method=method,
        signs=sign_counts(deltas, zero_abs_tol, zero_rel_tol, scales=b) if paired else (0, 0, 0),
        test=permutation_test(b, t, paired=paired, seed=seed) if b and t else None,
    )


def finite(values: Sequence[float]) -> bool:
    return all(math.isfinite(v) for v in values)
