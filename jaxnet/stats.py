"""Small statistics helpers for Monte-Carlo proportions."""

from __future__ import annotations

import numpy as np

from jaxnet import checks

# Two-sided 95% standard-normal quantile.
Z95 = 1.959963984540054


def normal_quantile(q: float) -> float:
    """The standard normal quantile Φ⁻¹(q) (e.g. 0.975 → 1.96)."""
    checks.real("q", q, low=0.0, high=1.0, low_open=True, high_open=True)
    from statistics import NormalDist

    return NormalDist().inv_cdf(q)


def wilson_interval(successes, trials, z: float = Z95):
    """Wilson score interval for a binomial proportion (elementwise), in closed form:
    (k + z²/2)/(T + z²) ± z·√(k(T − k)/T + z²/4)/(T + z²) — the numbers of SciPy's
    ``binomtest(k, T).proportion_ci(method="wilson")`` (tests/test_stats.py), vectorized.

    Example:
      >>> from jaxnet import stats
      >>> lo, hi = stats.wilson_interval(45, 50)
      >>> round(float(lo), 4), round(float(hi), 4)
      (0.7864, 0.9565)

    Args:
      successes: counts k (array-like of ints).
      trials: counts T > 0, broadcastable with ``successes``.
      z: normal quantile (default: 95% two-sided); the confidence level is 2Φ(z) − 1.

    Returns:
      ``(low, high)`` arrays in [0, 1] (scalars for scalar input).
    """
    checks.real("z", z, low=0.0, low_open=True)
    k, t = _counts(successes, trials)
    z2 = z * z
    center = (k + z2 / 2) / (t + z2)
    half = z * np.sqrt(k * (t - k) / t + z2 / 4) / (t + z2)
    low = np.where(k == 0, 0.0, np.clip(center - half, 0.0, 1.0))
    high = np.where(k == t, 1.0, np.clip(center + half, 0.0, 1.0))
    return (low, high) if low.ndim else (float(low), float(high))


def crossing(ps, level: float = 0.5) -> float:
    """Where the sequence ``ps`` first reaches ``level``: a fractional index, linear
    between the last point below and the first at or above (0 if ``ps[0]`` reaches it;
    NaN if none does). A p = ½ boundary on a grid is this, row by row.

    Example:
      >>> from jaxnet import stats
      >>> stats.crossing([0.1, 0.3, 0.7, 0.9])
      1.5
    """
    ps = [float(p) for p in ps]
    for i, p in enumerate(ps):
        if p >= level:
            return float(i) if i == 0 else i - 1 + (level - ps[i - 1]) / (p - ps[i - 1])
    return float("nan")


def grid_crossing(cells, ns, d1s, key: str, level: float = 0.5) -> np.ndarray:
    """A boundary on an (n, d1) grid of per-cell results: per n, ``crossing`` of
    ``cell[key]`` along ``d1s`` (a fractional index into ``d1s``; NaN where it never
    reaches ``level`` or a cell is missing before it does)."""
    at = {(c["n"], c["d1"]): c[key] for c in cells}
    return np.array(
        [crossing([at.get((n, d), np.nan) for d in d1s], level) for n in ns]
    )


def interval_side(a, b) -> int:
    """−1, 0 or 1: interval ``a = (lo, hi)`` lies below ``b``, overlaps it, or lies
    above it."""
    return -1 if a[1] < b[0] else (1 if a[0] > b[1] else 0)


def exact_interval(successes, trials, level: float = 0.95):
    """Clopper–Pearson ("exact") interval for a binomial proportion (elementwise), by
    beta quantiles — the numbers of SciPy's ``binomtest(k, T).proportion_ci(
    method="exact")``: coverage ≥ ``level`` at every p, where Wilson's falls short at
    small expected counts (its 99.9% interval covers p = 2e-6 of 10^5 draws only 98.2%
    of the time).

    Args: as ``wilson_interval``, with ``level`` in (0, 1) for z.
    """
    from scipy.stats import beta

    checks.real("level", level, low=0.0, high=1.0, low_open=True, high_open=True)
    k, t = _counts(successes, trials)
    alpha = 1 - level
    with np.errstate(invalid="ignore", divide="ignore"):
        low = np.where(k == 0, 0.0, beta.ppf(alpha / 2, k, t - k + 1))
        high = np.where(k == t, 1.0, beta.ppf(1 - alpha / 2, k + 1, t - k))
    low, high = np.asarray(low, float), np.asarray(high, float)
    return (low, high) if low.ndim else (float(low), float(high))


def _counts(successes, trials):
    k = checks.array("successes", successes, kind="real", allow_empty=True)
    t = checks.array("trials", trials, kind="real", allow_empty=True)
    if np.any(t <= 0):
        raise ValueError("trials must be > 0")
    if np.any(k < 0) or np.any(k > t):
        raise ValueError("successes must be in [0, trials]")
    if np.any(k != np.round(k)) or np.any(t != np.round(t)):
        raise ValueError("successes and trials must be whole numbers")
    k, t = np.broadcast_arrays(k.astype(np.float64), t.astype(np.float64))
    return k, t
