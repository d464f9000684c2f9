"""Closed forms, exact probabilities and the sufficient widths of the slides' theorems.

Every constant is stated where it is defined, with where it comes from. The slides give
several widths only up to Ω(·); where a figure needs a curve, the constant used is an
explicit, documented choice (``THEOREM11_CONSTANT``) and the figure says so.
"""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

import numpy as np

from jaxnet import checks

# OEIS A046747: number of singular n×n (0,1)-matrices, n = 1..4 (enumeration checks it).
SINGULAR_01_COUNTS = {1: 1, 2: 10, 3: 338, 4: 42976}

# Theorem 2's proof bounds P(d×d 0/1 matrix singular) ≤ (1/√2 + o(1))^d by C1·0.72^d
# (slides, "Proof sketch for Theorem 2"). 0.72 > 1/√2 ≈ 0.7071 is the slides' number;
# C1 is not given. ``theorem2_c1`` computes the smallest C1 consistent with a table of
# singular probabilities (exact for d ≤ 4, estimated beyond), which is what we plot.
THEOREM2_BASE = 0.72

# Theorems 9 and 11. Theorem 9 (slides): d1 ≥ 2n·log(n/ε) suffices. Theorem 11 says
# only d+, d− = Ω(n log(n/ε)); we draw d± = 2n·log(n/ε) (Theorem 9's constant), so
# d1 = 2·2n·log(n/ε). This constant is our choice, not the slides'.
THEOREM9_CONSTANT = 2.0
THEOREM11_CONSTANT = 2.0


def binary_singular_count(n: int) -> int:
    """Number of singular n×n 0/1 matrices, by enumerating all 2^(n²) (n ≤ 4)."""
    if not 1 <= n <= 4:
        raise ValueError(f"n must be in 1..4 for enumeration; got {n}")
    bits = np.array(list(itertools.product([0, 1], repeat=n * n)), np.float64)
    dets = np.linalg.det(bits.reshape(-1, n, n))  # integers, |det| ≤ 3: exact to 1e-12
    return int(np.sum(np.abs(dets) < 0.5))


def binary_singular_probability(n: int) -> Fraction:
    """P(a uniform n×n 0/1 matrix is singular), exact (n ≤ 4: OEIS A046747).

    Example:
      >>> from jaxnet.rank import theory
      >>> theory.binary_singular_probability(2), float(theory.binary_singular_probability(4))
      (Fraction(5, 8), 0.65576171875)
    """
    return Fraction(binary_singular_count(n), 2 ** (n * n))


def theorem3_leading(n) -> np.ndarray:
    """(1/√2)^n: Theorem 3's bound without its o(1) term."""
    return np.power(2.0, -np.asarray(n, np.float64) / 2)


def theorem2_c1(p_singular: dict[int, float], base: float = THEOREM2_BASE) -> float:
    """Smallest C1 with p_d ≤ C1·base^d for every d in the table."""
    return max(p / base**d for d, p in p_singular.items())


def _check_width_args(n, eps) -> np.ndarray:
    n = checks.array("n", n, kind="real")
    if np.any(n < 1):
        raise ValueError("n must be >= 1")
    checks.real("eps", eps, low=0.0, high=1.0, low_open=True, high_open=True)
    return n.astype(np.float64)


def theorem2_width(n, d0, eps, c1, base: float = THEOREM2_BASE) -> np.ndarray:
    """Theorem 2: d1 ≥ max(n/d0, log(C1(n+1)/(d0·ε)) / log(1/base))."""
    n = _check_width_args(n, eps)
    checks.positive_int("d0", d0)
    checks.real("c1", c1, low=0.0, low_open=True)
    checks.real("base", base, low=0.0, high=1.0, low_open=True, high_open=True)
    return np.maximum(n / d0, np.log(c1 * (n + 1) / (d0 * eps)) / np.log(1 / base))


def theorem9_width(n, eps) -> np.ndarray:
    """Theorem 9: d1 ≥ 2n·log(n/ε) (d0 = 1, non-empty regions)."""
    n = _check_width_args(n, eps)
    return THEOREM9_CONSTANT * n * np.log(n / eps)


def theorem11_width(n, eps) -> np.ndarray:
    """Theorem 11 with our constant: d1 = d+ + d− = 2·(2n·log(n/ε)) (module docstring)."""
    n = _check_width_args(n, eps)
    return 2 * THEOREM11_CONSTANT * n * np.log(n / eps)


def prop5_rows(n: int, d: int) -> int:
    """Non-empty patterns of one unit: 2 Σ_{k<d} C(n−1, k) (Proposition 5, d1 = 1)."""
    checks.positive_int("n", n)
    checks.positive_int("d", d)
    return 2 * sum(math.comb(n - 1, k) for k in range(d))


def prop5_count(n: int, d: int, d1: int) -> int:
    """(2 Σ_{k<d} C(n−1, k))^{d1}: non-empty regions for n points in general position in
    a d-dimensional linear space (Proposition 5; d = d0 + 1 with a bias)."""
    checks.positive_int("d1", d1)
    return prop5_rows(n, d) ** d1


def lemma8_count(n: int, d1: int) -> int:
    """(2n)^{d1}: non-empty regions for n distinct 1-D points with a bias (Lemma 8)."""
    checks.positive_int("n", n)
    checks.positive_int("d1", d1)
    return (2 * n) ** d1


# ---------------------------------------------------------------------------
# The report (Song & Lee): sectors of a 2-D teacher and the probability that each
# holds at least three training points (Theorem 5.2's hypothesis).


def sector_bound_eq12(p, n_points: int) -> float:
    """The report's union bound (its eq. 12), clipped at 0:

    1 − Σ_i [(1−p_i)^N + N p_i (1−p_i)^{N−1} + C(N, 2) p_i² (1−p_i)^{N−2}].
    """
    p = np.asarray(p, np.float64)
    n = n_points
    q = 1.0 - p
    terms = q**n + n * p * q ** (n - 1) + n * (n - 1) / 2 * p**2 * q ** (n - 2)
    return float(max(0.0, 1.0 - terms.sum()))


def prob_all_cells_at_least(p, n_points: int, k: int = 3, *, exact: bool = False):
    """P(every cell gets ≥ k of N iid points), cell probabilities ``p`` (summing to 1).

    Exact multinomial sum, computed as N!·[t^N] Π_i (e^{p_i t} − Σ_{j<k} (p_i t)^j/j!)
    by a dynamic programme over cells in O(K·N²). With ``exact=True`` and ``p`` given as
    ``Fraction``s the result is an exact ``Fraction``; otherwise float64.
    """
    if exact:
        probs = [Fraction(x) for x in p]
        if sum(probs) != 1:
            raise ValueError("p must sum to 1")
        one, fact = Fraction(1), [Fraction(1)]
    else:
        probs = [float(x) for x in p]
        if abs(sum(probs) - 1.0) > 1e-12:
            raise ValueError(f"p must sum to 1; got {sum(probs)}")
        one, fact = 1.0, [1.0]
    for j in range(1, n_points + 1):
        fact.append(fact[-1] * j)
    # poly[s] = Σ over the cells so far, counts totalling s, of Π p_i^{c_i} / c_i!
    poly = [one] + [0 * one] * n_points
    for pi in probs:
        term = [pi**c / fact[c] if c >= k else 0 * one for c in range(n_points + 1)]
        new = [0 * one] * (n_points + 1)
        for s, a in enumerate(poly):
            if a == 0:
                continue
            for c in range(k, n_points + 1 - s):
                new[s + c] += a * term[c]
        poly = new
    return poly[n_points] * fact[n_points]


def teacher_sectors(b_star: np.ndarray) -> np.ndarray:
    """Boundary angles (sorted, in [0, 2π)) of the 2·m0 sectors cut by the lines ⟂ b*_j.

    ``b_star: (m0, 2)``. Raises if two teacher directions are parallel (the sectors
    then merge and the report's setting does not apply).
    """
    b = np.asarray(b_star, np.float64)
    phi = np.arctan2(b[:, 1], b[:, 0])
    cuts = np.sort(
        np.mod(np.concatenate([phi + np.pi / 2, phi - np.pi / 2]), 2 * np.pi)
    )
    gaps = np.diff(np.r_[cuts, cuts[0] + 2 * np.pi])
    if np.any(gaps < 1e-12):
        raise ValueError("teacher directions must be pairwise non-parallel")
    return cuts


def sector_probabilities(b_star: np.ndarray) -> np.ndarray:
    """Probability of each sector under the uniform law on S¹: arc length / 2π."""
    cuts = teacher_sectors(b_star)
    return np.diff(np.r_[cuts, cuts[0] + 2 * np.pi]) / (2 * np.pi)


def sector_counts(b_star: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Training points in each sector (order of ``teacher_sectors``): ``(2·m0,)``."""
    cuts = teacher_sectors(b_star)
    ang = np.mod(np.arctan2(x[:, 1], x[:, 0]), 2 * np.pi)
    idx = np.searchsorted(cuts, ang, side="right") - 1  # -1: before the first cut
    idx = np.mod(idx, len(cuts))  # wraps into the last sector
    return np.bincount(idx, minlength=len(cuts))
