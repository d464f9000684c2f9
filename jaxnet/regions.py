"""Activation patterns and activation regions of parameter space (slides, Props 5-6, Lemma 8).

A pattern is a 0/1 matrix A ∈ {0,1}^{d1×n} (rows: units, columns: data points; the
transpose of ``nets.activation_pattern``'s layout). Its region S_X^A is the set of W
with unit i active on x̃_j iff A_ij = 1 (``jaxnet.lp``). Three samplers, each a pure
function of a key:

- ``sample_uniform``: uniform over all 2^{d1·n} patterns, empty regions included
  (the population Theorem 2 counts);
- ``sample_from_init``: the pattern of W with iid N(0, 1) entries, i.e. a region drawn
  with probability equal to its Gaussian measure (non-empty by construction);
- ``sample_steps``: for sorted one-dimensional data with a bias, each row uniform over
  the 2n step vectors, i.e. uniform over the (2n)^{d1} non-empty regions (Lemma 8).

Non-emptiness is decided two independent ways: the margin LP (``lp.row_margin``) and
Proposition 6's criterion, Σ_{j: A_ij = 1} x̃_j a vertex of the zonotope
Σ_j conv{0, x̃_j} (``zonotope_vertex_rows``, by Qhull; small n only).
"""

from __future__ import annotations

import itertools
from math import comb

import jax
import jax.numpy as jnp
import numpy as np

from jaxnet import lp, prng
from jaxnet.types import Array


def sample_uniform(key, d1: int, n: int) -> Array:
    """``(d1, n)`` bool, iid fair bits: uniform over all patterns."""
    bits = prng.stream_bits(key, {"a": (d1, n)})["a"][0]
    return (bits >> 31).astype(bool)


def sample_from_init(key, xt: Array, d1: int) -> Array:
    """``(d1, n)`` bool: the pattern of W iid N(0, 1) on ``xt: (n, d)`` (bias included)."""
    w = prng.normal(prng.stream_bits(key, {"w": (d1, xt.shape[1])})["w"], xt.dtype)
    return (w @ xt.T) > 0


def step_vectors(n: int) -> np.ndarray:
    """The 2n step vectors of length n, ``(2n, n)`` bool.

    Rows 0..n: increasing 0^k 1^(n−k), k = 0..n (all ones, ..., all zeros);
    rows n+1..2n−1: decreasing 1^k 0^(n−k), k = 1..n−1.
    """
    j = np.arange(n)
    inc = j[None, :] >= np.arange(n + 1)[:, None]
    dec = j[None, :] < np.arange(1, n)[:, None]
    return np.concatenate([inc, dec])


def sample_steps(key, d1: int, n: int) -> Array:
    """``(d1, n)`` bool, rows iid uniform over ``step_vectors(n)`` (for sorted 1-D x)."""
    u = prng.uniform(prng.stream_bits(key, {"s": (d1, 1)})["s"], jnp.float64)[:, 0]
    idx = jnp.minimum((u * 2 * n).astype(jnp.int32), 2 * n - 1)
    k_inc = idx  # increasing with idx leading zeros, for idx <= n
    k_dec = idx - n  # decreasing with k_dec leading ones, for idx > n
    j = jnp.arange(n)
    return jnp.where((idx <= n)[:, None], j[None, :] >= k_inc[:, None],
                     j[None, :] < k_dec[:, None])


def is_step(pattern) -> np.ndarray:
    """Per row: is it a step vector (at most one change along the sorted data)?"""
    a = np.asarray(pattern, bool)
    return np.sum(a[:, 1:] != a[:, :-1], axis=1) <= 1


def nonempty_count_prop5(n: int, d: int, d1: int) -> int:
    """(2 Σ_{k<d} C(n−1, k))^{d1}: non-empty regions for n points in general position in
    a d-dimensional linear space (Proposition 5; d = d0 + 1 with a bias)."""
    return (2 * sum(comb(n - 1, k) for k in range(d))) ** d1


def nonempty_count_lemma8(n: int, d1: int) -> int:
    """(2n)^{d1}: non-empty regions for n distinct 1-D points with a bias (Lemma 8)."""
    return (2 * n) ** d1


def nonempty_rows_lp(xt: np.ndarray, *, tol=lp.DEFAULT_TOL) -> np.ndarray:
    """All 2^n rows, and for each the LP's verdict: ``(2^n,)`` of YES/NO/FAILED.

    Brute force (one LP per row): for checking counts on small n.
    """
    n = xt.shape[0]
    rows = np.array(list(itertools.product([0, 1], repeat=n)), bool)
    return rows, np.array([lp.row_margin(xt, r, tol=tol).status for r in rows])


def zonotope_vertex_rows(xt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Proposition 6: which rows a have Σ_{j: a_j=1} x̃_j a vertex of Σ_j conv{0, x̃_j}.

    Forms all 2^n subset sums and takes their convex hull (Qhull); a row is non-empty
    iff its sum is a hull vertex. Needs the sums to span R^d (generic data, n ≥ d).
    Returns ``(rows (2^n, n) bool, is_vertex (2^n,) bool)``.
    """
    from scipy.spatial import ConvexHull

    xt = np.asarray(xt, np.float64)
    n = xt.shape[0]
    rows = np.array(list(itertools.product([0, 1], repeat=n)), bool)
    sums = rows.astype(np.float64) @ xt
    hull = ConvexHull(sums)
    is_vertex = np.zeros(len(rows), bool)
    is_vertex[hull.vertices] = True
    return rows, is_vertex


def jacobian_in_region(pattern, xt, v=None) -> np.ndarray:
    """The Jacobian [(v ⊙ a⁽ʲ⁾) ⊗ x̃⁽ʲ⁾]_j of every W in S_X^A: ``(n, d1·d)``.

    ``v=None`` gives the Khatri–Rao rows a⁽ʲ⁾ ⊗ x̃⁽ʲ⁾ (Lemma 4: same rank when all
    v_i ≠ 0).
    """
    a = jnp.asarray(pattern, jnp.result_type(float)).T  # (n, d1)
    if v is not None:
        a = a * jnp.asarray(v)[None, :]
    return (a[:, :, None] * jnp.asarray(xt)[:, None, :]).reshape(a.shape[0], -1)

