"""The exact minimum-norm interpolant of a bias-free two-layer ReLU network.

For f(x; θ) = Σ_j a_j σ(⟨b_j, x⟩) and data (X, y), the rescaling a_j → a_j/c, b_j → c·b_j
shows min ½‖θ‖² = min Σ_j |a_j|·‖b_j‖ over interpolating networks, and that equals the
optimum of the convex group-lasso program of Pilanci & Ergen ("Neural networks are
convex regularizers", 2020) over the activation patterns D_p = diag(1[X u > 0]) of the
data's hyperplane arrangement:

    OPT = min Σ_p ‖u_p‖ + ‖u'_p‖
          s.t. Σ_p D_p X (u_p − u'_p) = y,
               (2D_p − I) X u_p ≥ 0,  (2D_p − I) X u'_p ≥ 0,

valid once the width m is at least the number of non-zero groups of a solution (at most
N + 1). Each non-zero u_p gives a neuron b = u_p/√‖u_p‖, a = +√‖u_p‖ (u'_p: a = −√‖u'_p‖),
so the minimum squared norm is ‖θ̂‖² = 2·OPT (the report: 2·m0 under Theorem 5.2).

Patterns: in d = 2 the N lines x_i^⊥ cut the plane into (at most) 2N sectors, enumerated
exactly (``patterns_2d``). In higher d, ``sample_patterns`` draws random directions and
reports whether the distinct patterns found reach the count 2 Σ_{k<d} C(N−1, k) of a
central arrangement in general position, i.e. whether the set is provably complete.
If it is not, the program's optimum is an upper bound on OPT.

Solved with cvxpy + Clarabel (an optional extra: ``pip install -e '.[exact]'``); the
solver status is recorded and anything but optimal is reported as a failure.
"""

from __future__ import annotations

import time
import warnings
from typing import NamedTuple

import numpy as np

from jaxnet import checks
from jaxnet.rank import theory
from jaxnet.teacher_student import measures

OPTIMAL = "optimal"


def patterns_2d(x: np.ndarray) -> np.ndarray:
    """All activation patterns 1[⟨u, x_i⟩ > 0] of 2-D data, ``(P, N)`` bool, P ≤ 2N.

    One u per open sector between consecutive directions of the lines x_i^⊥.
    """
    x = np.asarray(x, np.float64)
    phi = np.arctan2(x[:, 1], x[:, 0])
    cuts = np.unique(
        np.mod(np.concatenate([phi + np.pi / 2, phi - np.pi / 2]), 2 * np.pi)
    )
    mids = (cuts + np.r_[cuts[1:], cuts[0] + 2 * np.pi]) / 2
    u = np.stack([np.cos(mids), np.sin(mids)], axis=1)
    return np.unique((u @ x.T) > 0, axis=0)


def enumerate_patterns(x: np.ndarray) -> np.ndarray:
    """All patterns 1[⟨u, x_i⟩ > 0] of data in general position in R^d, ``(P, N)``.

    Every region of a central arrangement of N ≥ d generic hyperplanes has an extreme
    ray, the intersection of d − 1 of them: u = ±r with r ⟂ x_i for i in a (d−1)-subset.
    Near r, every sign combination on that subset is realized (the x_i of the subset
    are independent) and the other points keep the sign of ⟨r, x_k⟩. So enumerating
    subsets, both rays and the 2^(d−1) sign combinations gives every pattern.
    """
    import itertools

    x = np.asarray(x, np.float64)
    n, d = x.shape
    subsets = np.array(list(itertools.combinations(range(n), d - 1)))
    _, _, vt = np.linalg.svd(x[subsets])  # (S, d−1, d) -> null vector = last row of vt
    r = vt[:, -1, :]
    signs = np.concatenate([r, -r]) @ x.T > 0  # (2S, N)
    subs = np.concatenate([subsets, subsets])
    combos = np.array(list(itertools.product([False, True], repeat=d - 1)))
    out = np.repeat(signs[:, None, :], len(combos), axis=1)  # (2S, C, N)
    rows = np.arange(len(subs))[:, None, None]
    out[rows, np.arange(len(combos))[None, :, None], subs[:, None, :]] = combos[None]
    return np.unique(out.reshape(-1, n), axis=0)


class Patterns(NamedTuple):
    patterns: np.ndarray  # (P, N) bool
    complete: bool  # provably all patterns (count reached)
    expected: int  # 2 Σ_{k<d} C(N−1, k) for data in general position


def sample_patterns(
    x: np.ndarray,
    rng: np.random.Generator,
    n_samples: int = 200_000,
    max_subsets: int = 50_000,
) -> Patterns:
    """The data's activation patterns: enumerated exactly (d = 2 by sectors; d > 2 by
    ``enumerate_patterns`` when C(N, d−1) ≤ ``max_subsets``), else from ``n_samples``
    random Gaussian directions. ``complete`` says whether the count
    2 Σ_{k<d} C(N−1, k) was reached (then the set is provably all of them)."""
    from math import comb

    x = np.asarray(x, np.float64)
    n, d = x.shape
    expected = theory.prop5_rows(n, d)
    if d == 2:
        pats = patterns_2d(x)
    elif n >= d and comb(n, d - 1) <= max_subsets:
        pats = enumerate_patterns(x)
    else:
        seen = []
        for start in range(0, n_samples, 20_000):
            u = rng.standard_normal((min(20_000, n_samples - start), d))
            seen.append(np.unique((u @ x.T) > 0, axis=0))
        pats = np.unique(np.concatenate(seen), axis=0)
    complete = len(pats) >= expected
    return Patterns(pats[pats.any(axis=1)], complete, expected)  # all-zero adds nothing


# Clarabel's gap/feasibility tolerances: tried in order until one solves to 'optimal'
# (its default 1e-8 ends 'optimal_inaccurate' on about half of these programs).
TOLERANCES = (1e-7, 1e-6)


class MinNorm(NamedTuple):
    status: str  # the solver's status ('optimal' or a failure)
    opt: float  # OPT = min Σ |a_j| ‖b_j‖ (NaN unless optimal)
    params: dict  # recovered network {'w': (m, d), 'v': (m,)} (empty unless optimal)
    solve_seconds: float
    n_patterns: int
    tol: float  # the solver tolerance of the returned solve

    @property
    def sq_norm(self) -> float:
        """‖θ̂‖² = 2·OPT."""
        return 2.0 * self.opt


def sector_rays_2d(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For 2-D data: each sector's pattern and its two boundary rays.

    The closed cone {u : (2D_p − I) X u ≥ 0} of the sector between consecutive cut
    angles c_k < c_{k+1} (the directions of the lines x_i^⊥) is
    {α e(c_k) + β e(c_{k+1}) : α, β ≥ 0}, e(c) = (cos c, sin c), when every sector is
    narrower than π (no half-plane holds all the points). Returns
    ``(patterns (P, N), e_lo (P, 2), e_hi (P, 2))``.
    """
    x = np.asarray(x, np.float64)
    phi = np.arctan2(x[:, 1], x[:, 0])
    cuts = np.unique(
        np.mod(np.concatenate([phi + np.pi / 2, phi - np.pi / 2]), 2 * np.pi)
    )
    hi = np.r_[cuts[1:], cuts[0] + 2 * np.pi]
    if np.any(hi - cuts >= np.pi):
        raise ValueError("a sector is not narrower than pi (points in a half-plane)")
    mids = (cuts + hi) / 2
    pats = (np.stack([np.cos(mids), np.sin(mids)], axis=1) @ x.T) > 0
    ray = lambda a: np.stack([np.cos(a), np.sin(a)], axis=1)  # noqa: E731
    return pats, ray(cuts), ray(hi)


def _solve(prob, variables) -> tuple[str, float]:
    import cvxpy as cp

    status, tol = "not solved", TOLERANCES[0]
    for tol in TOLERANCES:
        try:
            prob.solve(
                solver="CLARABEL",
                max_iter=500,
                tol_gap_abs=tol,
                tol_gap_rel=tol,
                tol_feas=tol,
            )
            status = prob.status
        except cp.error.SolverError as err:
            status = f"solver_error: {err}"
        if status == OPTIMAL:
            break
    return status, tol


def _recover(groups, signs, opt, status, dt, n_pat, tol, prune) -> MinNorm:
    norms = np.linalg.norm(groups, axis=1)
    keep = norms > prune * max(norms.max(), 1e-300)
    root = np.sqrt(norms[keep])
    params = {"w": groups[keep] / root[:, None], "v": signs[keep] * root}
    return MinNorm(status, float(opt), params, dt, n_pat, tol)


def min_norm_interpolant(
    x: np.ndarray,
    y: np.ndarray,
    patterns: np.ndarray | None = None,
    *,
    prune: float = 1e-6,
) -> MinNorm:
    """Solve the group-lasso program (module docstring) and recover the network.

    With ``patterns=None`` and d = 2 the cones are written through their two extreme
    rays (``sector_rays_2d``): 2 non-negative variables per group instead of N
    inequalities, the same program (a test compares both forms). Groups with
    ‖u_p‖ ≤ ``prune``·max‖u‖ are dropped from the recovered network.
    """
    import cvxpy as cp

    x = checks.array("x", x, ndim=2, kind="real").astype(np.float64)
    y = checks.array("y", y, shape=(x.shape[0],), kind="real").astype(np.float64)
    if patterns is not None:
        patterns = checks.array(
            "patterns", patterns, shape=(None, x.shape[0]), kind="binary"
        )
    checks.real("prune", prune, low=0.0, high=1.0, high_open=True)
    t0 = time.perf_counter()
    if patterns is None:
        if x.shape[1] != 2:
            raise ValueError("patterns=None needs d = 2; pass the patterns otherwise")
        pats, e_lo, e_hi = sector_rays_2d(x)
        d_mat = pats.T.astype(np.float64)
        a_lo, a_hi = d_mat * (x @ e_lo.T), d_mat * (x @ e_hi.T)  # (N, P)
        n_pat = pats.shape[0]
        z = cp.Variable((4, n_pat), nonneg=True)  # (α, β) for u_p, then for u'_p

        def group(i):
            return cp.multiply(
                cp.reshape(z[i], (n_pat, 1), order="C"), e_lo
            ) + cp.multiply(cp.reshape(z[i + 1], (n_pat, 1), order="C"), e_hi)

        u, w = group(0), group(2)
        cons = [a_lo @ z[0] + a_hi @ z[1] - a_lo @ z[2] - a_hi @ z[3] == y]
    else:
        d_mat = np.asarray(patterns, np.float64).T  # (N, P)
        sgn = 2 * d_mat - 1
        n_pat = d_mat.shape[1]
        u = cp.Variable((n_pat, x.shape[1]))
        w = cp.Variable((n_pat, x.shape[1]))
        xu, xw = x @ u.T, x @ w.T  # (N, P)
        cons = [
            cp.multiply(sgn, xu) >= 0,
            cp.multiply(sgn, xw) >= 0,
            cp.sum(cp.multiply(d_mat, xu - xw), axis=1) == y,
        ]
    prob = cp.Problem(
        cp.Minimize(cp.sum(cp.norm(u, 2, axis=1)) + cp.sum(cp.norm(w, 2, axis=1))), cons
    )
    status, tol = _solve(prob, (u, w))
    dt = time.perf_counter() - t0
    if status != OPTIMAL:
        return MinNorm(str(status), float("nan"), {}, dt, n_pat, tol)
    groups = np.concatenate([u.value, w.value])
    signs = np.r_[np.ones(n_pat), -np.ones(n_pat)]
    return _recover(groups, signs, prob.value, status, dt, n_pat, tol, prune)


# ---------------------------------------------------------------------------
# Recovery experiments: is the exact minimum-norm interpolant the teacher?


# The solver statuses a host trial reports (an index; cvxpy's names, and the failures
# of ``minnorm._solve``, whose error text stays in the worker).
STATUSES = (
    "optimal",
    "optimal_inaccurate",
    "infeasible",
    "infeasible_inaccurate",
    "unbounded",
    "unbounded_inaccurate",
    "user_limit",
    "not solved",
    "solver_error",
)


def exact_trial(rng, cell, t):
    """Host side: the exact minimum-norm interpolant of one data set ``cell = {'x', 'y',
    'width'}``, its neurons zero-padded to ``width`` (``neurons`` are real).

    ``status`` indexes ``STATUSES``; ``ok`` is ``status == 'optimal'``.
    """
    del rng, t  # deterministic: the data are the cell
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # cvxpy's "solution may be inaccurate"
        sol = min_norm_interpolant(cell["x"], cell["y"])
    ok = sol.status == OPTIMAL
    width = cell["width"]
    w, v = np.zeros((width, 2)), np.zeros(width)
    if ok:
        m = len(sol.params["v"])
        if m > width:  # 2-D: at most 2N sectors, two signs each
            raise RuntimeError(f"the exact interpolant has {m} > {width} neurons")
        w[:m], v[:m] = sol.params["w"], sol.params["v"]
    status = sol.status.split(":")[0]
    return {
        "ok": ok,
        "status": STATUSES.index(status)
        if status in STATUSES
        else STATUSES.index("solver_error"),
        "tol": sol.tol,
        "solve_seconds": sol.solve_seconds,
        "opt": sol.opt,
        "sq_norm": float(measures.squared_norm(sol.params)) if ok else np.nan,
        "w": w,
        "v": v,
        "neurons": len(sol.params["v"]) if ok else 0,
    }
