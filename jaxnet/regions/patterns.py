"""Activation patterns and activation regions of parameter space (slides, Props 5-6, Lemma 8).

A pattern is a 0/1 matrix A ∈ {0,1}^{d1×n} (rows: units, columns: data points; the
transpose of ``nets.activation_pattern``'s layout). Its region S_X^A is the set of W
with unit i active on x̃_j iff A_ij = 1 (``jaxnet.regions.lp``). Three samplers, each a
function of a NumPy ``Generator`` (regions feed host-side linear programs):

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

import jax.numpy as jnp
import numpy as np

from jaxnet import checks
from jaxnet.regions import lp


def sample_uniform(rng: np.random.Generator, d1: int, n: int) -> np.ndarray:
    """``(d1, n)`` bool, iid fair bits: uniform over all patterns."""
    checks.positive_int("d1", d1)
    checks.positive_int("n", n)
    return rng.integers(0, 2, size=(d1, n)).astype(bool)


def sample_from_init(rng: np.random.Generator, xt: np.ndarray, d1: int) -> np.ndarray:
    """``(d1, n)`` bool: the pattern of W iid N(0, 1) on ``xt: (n, d)`` (bias included)."""
    w = rng.standard_normal((d1, xt.shape[1]))
    return (w @ np.asarray(xt).T) > 0


def step_vectors(n: int) -> np.ndarray:
    """The 2n step vectors of length n, ``(2n, n)`` bool.

    Rows 0..n: increasing 0^k 1^(n−k), k = 0..n (all ones, ..., all zeros);
    rows n+1..2n−1: decreasing 1^k 0^(n−k), k = 1..n−1.
    """
    j = np.arange(n)
    inc = j[None, :] >= np.arange(n + 1)[:, None]
    dec = j[None, :] < np.arange(1, n)[:, None]
    return np.concatenate([inc, dec])


def sample_steps(rng: np.random.Generator, d1: int, n: int) -> np.ndarray:
    """``(d1, n)`` bool, rows iid uniform over ``step_vectors(n)`` (for sorted 1-D x)."""
    checks.positive_int("d1", d1)
    checks.positive_int("n", n)
    return step_vectors(n)[rng.integers(0, 2 * n, size=d1)]


def is_step(pattern) -> np.ndarray:
    """Per row: is it a step vector (at most one change along the sorted data)?"""
    a = np.asarray(pattern, bool)
    return np.sum(a[:, 1:] != a[:, :-1], axis=1) <= 1


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
    xt = checks.array("xt", xt, ndim=2, kind="real")
    pattern = checks.array("pattern", pattern, shape=(None, xt.shape[0]), kind="binary")
    a = jnp.asarray(pattern, jnp.result_type(float)).T  # (n, d1)
    if v is not None:
        a = a * jnp.asarray(checks.array("v", v, shape=(a.shape[1],)))[None, :]
    return khatri_rao_rows(a, jnp.asarray(xt))


def khatri_rao_rows(a, xt):
    """Rows a⁽ʲ⁾ ⊗ x̃⁽ʲ⁾ of ``a: (n, d1)`` and ``xt: (n, d)``: ``(n, d1·d)``, unit-major
    (traceable, unchecked: the core of ``jacobian_in_region``)."""
    return (a[:, :, None] * xt[:, None, :]).reshape(a.shape[0], -1)


def fan(xt: np.ndarray) -> list[dict]:
    """The activation regions of one unit with a 2-D parameter w (Figure 1).

    ``xt: (n, 2)`` data (for example (x_j, 1): one input and a bias). The lines
    H_j = x̃_j^⊥ through the origin cut the plane into at most 2n sectors; each is
    returned with its boundary angles (radians, increasing) and its pattern (the points
    on which ⟨w, x̃_j⟩ > 0), evaluated at the sector's bisector.
    """
    xt = np.asarray(xt, np.float64)
    normals = np.arctan2(xt[:, 1], xt[:, 0])
    cuts = np.sort(
        np.mod(np.concatenate([normals + np.pi / 2, normals - np.pi / 2]), 2 * np.pi)
    )
    cuts = cuts[np.concatenate([[True], np.diff(cuts) > 1e-12])]
    sectors = []
    for k, start in enumerate(cuts):
        stop = cuts[k + 1] if k + 1 < len(cuts) else cuts[0] + 2 * np.pi
        mid = (start + stop) / 2
        w = np.array([np.cos(mid), np.sin(mid)])
        sectors.append(
            {
                "angles": (float(start), float(stop)),
                "pattern": tuple(int(v) for v in (xt @ w > 0)),
            }
        )
    return sectors


def relu_function_curve(x_sorted: np.ndarray, num: int = 2000):
    """The functions one ReLU represents on sorted 1-D points (Proposition 12).

    f(θ) = (σ(w x_j + b))_j for (w, b) = (cos θ, sin θ) over the circle. The set of
    such f is a polyhedral cone; its cross-section {Σ_j f_j = 1} is a polyline whose
    vertices are the f with a breakpoint −b/w on a data point. Returns
    ``(curve (num', n), vertices (m, n), vertex_patterns)`` on the cross-section
    (θ with f = 0 dropped): an open polyline, vertices in the order the curve meets
    them.
    """
    x = np.asarray(x_sorted, np.float64)
    theta = np.linspace(0, 2 * np.pi, num, endpoint=False)
    f = np.maximum(np.cos(theta)[:, None] * x[None, :] + np.sin(theta)[:, None], 0.0)
    s = f.sum(axis=1)
    live = s > 1e-12
    # The (w, b) with f = 0 form one arc; start the curve just after it, so the
    # polyline runs from one end to the other.
    start = int(np.argmax(live & ~np.roll(live, 1)))
    f, s, live = (np.roll(a, -start, axis=0) for a in (f, s, live))
    curve = f[live] / s[live, None]
    # Vertices: breakpoint on x_i, for w > 0 and w < 0.
    verts, pats = [], []
    for sign in (1.0, -1.0):
        for xi in x:
            v = np.maximum(sign * (x - xi), 0.0)
            if v.sum() > 0:
                verts.append(v / v.sum())
                pats.append(tuple(int(t) for t in (sign * (x - xi) > 0)))
    verts = np.array(verts)
    # Order the vertices along the curve.
    order = np.argsort([np.argmin(np.abs(curve - v).sum(axis=1)) for v in verts])
    return curve, verts[order], [pats[i] for i in order]
