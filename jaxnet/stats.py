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
    """Wilson score interval for a binomial proportion (elementwise).

    Args:
      successes: counts k (array-like of ints).
      trials: counts T > 0, broadcastable with ``successes``.
      z: normal quantile (default: 95% two-sided).

    Returns:
      ``(low, high)`` arrays in [0, 1].
    """
    k = checks.array("successes", successes, kind="real", allow_empty=True).astype(float)
    t = checks.array("trials", trials, kind="real", allow_empty=True).astype(float)
    checks.real("z", z, low=0.0, low_open=True)
    if np.any(t <= 0):
        raise ValueError("trials must be > 0")
    if np.any(k < 0) or np.any(k > t):
        raise ValueError("successes must be in [0, trials]")
    p = k / t
    denom = 1 + z * z / t
    centre = (p + z * z / (2 * t)) / denom
    half = z * np.sqrt(p * (1 - p) / t + z * z / (4 * t * t)) / denom
    low = np.where(k == 0, 0.0, np.clip(centre - half, 0.0, 1.0))
    high = np.where(k == t, 1.0, np.clip(centre + half, 0.0, 1.0))
    return low, high
