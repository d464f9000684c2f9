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
from typing import NamedTuple

import numpy as np

from jaxnet import theory

OPTIMAL = "optimal"


def patterns_2d(x: np.ndarray) -> np.ndarray:
    """All activation patterns 1[⟨u, x_i⟩ > 0] of 2-D data, ``(P, N)`` bool, P ≤ 2N.

    One u per open sector between consecutive directions of the lines x_i^⊥.
    """
    x = np.asarray(x, np.float64)
    phi = np.arctan2(x[:, 1], x[:, 0])
    cuts = np.unique(np.mod(np.concatenate([phi + np.pi / 2, phi - np.pi / 2]), 2 * np.pi))
    mids = (cuts + np.r_[cuts[1:], cuts[0] + 2 * np.pi]) / 2
    u = np.stack([np.cos(mids), np.sin(mids)], axis=1)
    return np.unique((u @ x.T) > 0, axis=0)


class Patterns(NamedTuple):
    patterns: np.ndarray  # (P, N) bool
    complete: bool  # provably all patterns (count reached)
    expected: int  # 2 Σ_{k<d} C(N−1, k) for data in general position


def sample_patterns(x: np.ndarray, rng: np.random.Generator, n_samples: int = 200_000,
                    ) -> Patterns:
    """Patterns of random Gaussian directions u (exact enumeration when d = 2)."""
    x = np.asarray(x, np.float64)
    n, d = x.shape
    expected = theory.prop5_rows(n, d)
    if d == 2:
        pats = patterns_2d(x)
    else:
        seen = []
        for start in range(0, n_samples, 20_000):
            u = rng.standard_normal((min(20_000, n_samples - start), d))
            seen.append(np.unique((u @ x.T) > 0, axis=0))
            pats = np.unique(np.concatenate(seen), axis=0)
            if len(pats) >= expected:
                break
        pats = np.unique(np.concatenate(seen), axis=0)
    complete = len(pats) >= expected
    return Patterns(pats[pats.any(axis=1)], complete, expected)  # all-zero adds nothing


class MinNorm(NamedTuple):
    status: str  # the solver's status ('optimal' or a failure)
    opt: float  # OPT = min Σ |a_j| ‖b_j‖ (NaN unless optimal)
    params: dict  # recovered network {'w': (m, d), 'v': (m,)} (empty unless optimal)
    solve_seconds: float
    n_patterns: int

    @property
    def sq_norm(self) -> float:
        """‖θ̂‖² = 2·OPT."""
        return 2.0 * self.opt


def min_norm_interpolant(x: np.ndarray, y: np.ndarray, patterns: np.ndarray, *,
                         solver: str = "CLARABEL", prune: float = 1e-7) -> MinNorm:
    """Solve the group-lasso program (module docstring) and recover the network.

    Groups with ‖u_p‖ ≤ ``prune``·max‖u‖ are dropped from the recovered network.
    """
    import cvxpy as cp

    x = np.asarray(x, np.float64)
    y = np.asarray(y, np.float64)
    d_mat = np.asarray(patterns, np.float64).T  # (N, P)
    sgn = 2 * d_mat - 1
    n_pat, d = d_mat.shape[1], x.shape[1]
    u = cp.Variable((n_pat, d))
    w = cp.Variable((n_pat, d))
    xu, xw = x @ u.T, x @ w.T  # (N, P)
    cons = [cp.multiply(sgn, xu) >= 0, cp.multiply(sgn, xw) >= 0,
            cp.sum(cp.multiply(d_mat, xu - xw), axis=1) == y]
    prob = cp.Problem(cp.Minimize(cp.sum(cp.norm(u, 2, axis=1))
                                  + cp.sum(cp.norm(w, 2, axis=1))), cons)
    t0 = time.perf_counter()
    try:
        prob.solve(solver=solver)
        status = prob.status
    except cp.error.SolverError as err:
        status = f"solver_error: {err}"
    dt = time.perf_counter() - t0
    if status != OPTIMAL:
        return MinNorm(str(status), float("nan"), {}, dt, n_pat)
    groups = np.concatenate([u.value, w.value])
    signs = np.r_[np.ones(n_pat), -np.ones(n_pat)]
    norms = np.linalg.norm(groups, axis=1)
    keep = norms > prune * max(norms.max(), 1e-300)
    root = np.sqrt(norms[keep])
    params = {"w": groups[keep] / root[:, None], "v": signs[keep] * root}
    return MinNorm(status, float(prob.value), params, dt, n_pat)
