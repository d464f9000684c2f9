"""Gaussian measures of the activation cones of one unit: where initialization lands.

For data x̃_1..x̃_n ∈ R^k (bias appended, k = d0 + 1), the hyperplanes {w : ⟨w, x̃_j⟩ = 0}
cut R^k into open polyhedral cones C, one per non-empty activation row a ∈ {0, 1}^n
(a_j = 1 iff ⟨w, x̃_j⟩ > 0). A unit drawn w ~ N(0, I_k) lands in C with probability
μ(C) = (solid angle of C)/(area of S^{k−1}), and a network's region, a product of one
cone per unit, has Gaussian measure Π_i μ(C_i).

Exact tables (every cone and its measure), for data in general position:

- k = 2 (d0 = 1): the 2n boundary directions ±x̃_j^⊥ split the circle into 2n arcs;
  μ = arc length / 2π.
- k = 3 (d0 = 2): the cones are the n(n − 1) + 2 faces of the great-circle arrangement.
  Every face has ≥ 3 vertices ±(x̃_i × x̃_j), and the 4 faces at a vertex are the 4
  sign choices on planes i, j (the other signs being the vertex's): enumerating
  vertices finds every face and its vertices; μ = spherical-polygon area / 4π (fan
  triangulation from the face's centre, Van Oosterom–Strackee triangle areas).

``mc_measures`` is the independent Monte-Carlo estimator (fraction of M Gaussian
draws that land in each cone, with a Clopper–Pearson interval), used to check the
tables.
"""

from __future__ import annotations

import numpy as np

from jaxnet import stats


def _check_xt(xt) -> np.ndarray:
    xt = np.asarray(xt, np.float64)
    if xt.ndim != 2 or xt.shape[1] not in (2, 3) or xt.shape[0] < 1:
        raise ValueError(f"xt must be (n, 2) or (n, 3) with n >= 1; got {xt.shape}")
    return xt


def _pack(rows: np.ndarray) -> np.ndarray:
    """Row-wise byte keys of a bool matrix (for dictionary look-ups)."""
    return np.packbits(rows, axis=1)


def cells_2d(xt) -> tuple[np.ndarray, np.ndarray]:
    """``(patterns (2n, n) bool, measures (2n,))`` of the arcs for ``xt: (n, 2)``."""
    xt = _check_xt(xt)
    base = np.arctan2(xt[:, 1], xt[:, 0])
    cuts = np.sort(
        np.mod(np.concatenate([base + np.pi / 2, base - np.pi / 2]), 2 * np.pi)
    )
    widths = np.diff(np.concatenate([cuts, cuts[:1] + 2 * np.pi]))
    mids = cuts + widths / 2
    w = np.stack([np.cos(mids), np.sin(mids)], axis=1)
    return (w @ xt.T) > 0, widths / (2 * np.pi)


def _triangle_area(a, b, c) -> np.ndarray:
    """Solid angles of spherical triangles with unit vertices ``a, b, c: (T, 3)``."""
    num = np.abs(np.einsum("ij,ij->i", a, np.cross(b, c)))
    den = (
        1
        + np.einsum("ij,ij->i", a, b)
        + np.einsum("ij,ij->i", b, c)
        + np.einsum("ij,ij->i", c, a)
    )
    return 2 * np.arctan2(num, den)


def cells_3d(xt) -> tuple[np.ndarray, np.ndarray]:
    """``(patterns (K, n) bool, measures (K,))``, K = n(n−1) + 2, for ``xt: (n, 3)``
    in general position (module docstring)."""
    xt = _check_xt(xt)
    n = xt.shape[0]
    if n == 1:
        return np.array([[True], [False]]), np.array([0.5, 0.5])
    if n == 2:  # four lunes: (s1, s2) has angle π − ∠(s1 x̃_1, s2 x̃_2)
        pats = np.array([[a, b] for a in (False, True) for b in (False, True)])
        u = xt / np.linalg.norm(xt, axis=1, keepdims=True)
        sgn = np.where(pats, 1.0, -1.0)
        cos = np.clip(sgn[:, 0] * sgn[:, 1] * (u[0] @ u[1]), -1, 1)
        return pats, (np.pi - np.arccos(cos)) / (2 * np.pi)
    i, j = np.triu_indices(n, 1)
    vert = np.cross(xt[i], xt[j])
    vert /= np.linalg.norm(vert, axis=1, keepdims=True)
    vert = np.concatenate([vert, -vert])
    ii, jj = np.concatenate([i, i]), np.concatenate([j, j])
    signs = (vert @ xt.T) > 0  # (V, n); entries i, j are on the planes
    faces: dict[bytes, list] = {}
    for si in (False, True):
        for sj in (False, True):
            pat = signs.copy()
            pat[np.arange(len(vert)), ii] = si
            pat[np.arange(len(vert)), jj] = sj
            for key, row, v in zip(_pack(pat), pat, vert, strict=True):
                faces.setdefault(key.tobytes(), [row, []])[1].append(v)
    patterns, measures = [], []
    for row, vs in faces.values():
        vs = np.array(vs)
        centre = vs.sum(0)
        centre /= np.linalg.norm(centre)
        # order the vertices around the centre
        e1 = vs[0] - (vs[0] @ centre) * centre
        e1 /= np.linalg.norm(e1)
        e2 = np.cross(centre, e1)
        order = np.argsort(np.arctan2(vs @ e2, vs @ e1))
        vs = vs[order]
        nxt = np.roll(vs, -1, axis=0)
        area = _triangle_area(np.broadcast_to(centre, vs.shape), vs, nxt).sum()
        patterns.append(row)
        measures.append(area / (4 * np.pi))
    return np.array(patterns), np.array(measures)


def cell_table(xt) -> tuple[np.ndarray, np.ndarray]:
    """Every cone of one unit on ``xt`` and its Gaussian measure (k = 2 or 3)."""
    xt = _check_xt(xt)
    return cells_2d(xt) if xt.shape[1] == 2 else cells_3d(xt)


def lookup(patterns: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Index into ``patterns`` of each row of ``rows`` (−1 where absent)."""
    index = {k.tobytes(): c for c, k in enumerate(_pack(patterns))}
    return np.array([index.get(k.tobytes(), -1) for k in _pack(rows)])


def mc_measures(
    rng: np.random.Generator, xt, patterns, samples: int, *, level: float = 0.95
):
    """Monte-Carlo estimates of the cones' measures: ``(estimate (K,), lo, hi, missed)``
    from ``samples`` draws w ~ N(0, I), with Clopper–Pearson intervals at ``level``
    (``stats.exact_interval``: they keep their coverage at the small counts of small
    cones); ``missed``: draws whose pattern is not in ``patterns`` (0 when the table
    is complete)."""
    xt = _check_xt(xt)
    w = rng.standard_normal((samples, xt.shape[1]))
    idx = lookup(patterns, (w @ xt.T) > 0)
    counts = np.bincount(idx[idx >= 0], minlength=len(patterns))
    lo, hi = stats.exact_interval(counts, samples, level)
    return counts / samples, np.asarray(lo), np.asarray(hi), int((idx < 0).sum())
