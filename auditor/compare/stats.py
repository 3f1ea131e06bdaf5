"""The statistics behind `audit compare`: small, numpy only, deterministic.

Conventions (checked against the incident reports in tests/compare/test_stats.py):
- `std` is the sample standard deviation (ddof=1) unless asked otherwise. The burgers report's
  CV of 19.7% uses ddof=1; the future-seed log's stds use ddof=0 (population), so `std` takes `ddof`.
- Deltas are treatment - baseline. Paired when both sides have the same seeds, otherwise a
  difference of means.
- The bootstrap draws from a fixed seed, so the same numbers give the same interval, byte for byte.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Sequence

import numpy as np

DEFAULT_REPS = 10_000
DEFAULT_SEED = 0
CI_METHODS = ("percentile", "bca")


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
    if method not in CI_METHODS:
        raise ValueError(f"unknown CI method {method!r}; one of {', '.join(CI_METHODS)}")
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
    method: str = "percentile"
    signs: tuple[int, int, int] = (0, 0, 0)  # (+, =, -) of the per-seed deltas

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
        }


def effect(baseline: Sequence[float], treatment: Sequence[float], *, paired: bool, level: float = 0.95,
           method: str = "percentile", reps: int = DEFAULT_REPS, seed: int = DEFAULT_SEED,
           zero_abs_tol: float = 0.0, zero_rel_tol: float = 0.0) -> Effect:
    """All the numbers of one comparison. When paired, baseline[i] and treatment[i] share a seed."""
    b = [float(v) for v in baseline]
    t = [float(v) for v in treatment]
    deltas = [y - x for x, y in zip(b, t, strict=False)] if paired else []
    if b and t:
        delta = mean(deltas) if paired else mean(t) - mean(b)
    else:
        delta = None
    return Effect(
        paired=paired, n_baseline=len(b), n_treatment=len(t),
        mean_baseline=mean(b) if b else None, mean_treatment=mean(t) if t else None,
        std_baseline=std(b), std_treatment=std(t), cv_baseline=cv(b), cv_treatment=cv(t),
        delta=delta, deltas=deltas, std_delta=std(deltas) if paired else None,
        ci=bootstrap_ci(b, t, paired=paired, level=level, method=method, reps=reps, seed=seed) if b and t else None,
        level=level, method=method,
        signs=sign_counts(deltas, zero_abs_tol, zero_rel_tol, scales=b) if paired else (0, 0, 0),
    )


def finite(values: Sequence[float]) -> bool:
    return all(math.isfinite(v) for v in values)
