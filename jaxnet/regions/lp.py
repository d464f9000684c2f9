"""Strict-feasibility linear programs on activation regions (HiGHS via SciPy).

The activation region of a pattern A ∈ {0,1}^{d1×n} on data X̃ = [X, 1] is the open set

    S_X^A = {W : s_ij ⟨w_i, x̃_j⟩ > 0 for all i, j},        s_ij = 2 A_ij − 1,

a product over units of open polyhedral cones. Strict inequalities are decided by a
margin: maximise t subject to s_ij ⟨w_i, x̃_j⟩ ≥ t and t ≤ 1, with every weight free.
The open set is non-empty iff t* > 0 (the closed one may be non-empty with t* = 0; the
public reference code's non-strict inequalities and default bounds W ≥ 0 get this
wrong). Questions asked here:

- ``row_margin``: is one unit's cone non-empty (region non-emptiness, row by row);
- ``global_min_margin``: does S_X^A contain a W with F(W, X) = y (Theorem 11), with
  v fixed: Σ_i v_i A_ij ⟨w_i, x̃_j⟩ = y_j added as equalities;
- ``global_min_margin_1d``: the same for d0 = 1, where each unit's cone is
  two-dimensional with extreme rays r1, r2, so w_i = α_i r1 + β_i r2 with α, β > 0 and
  the program shrinks to n equalities in 2·d1 positive variables.

Every answer is an ``LPResult``: ``status`` is ``YES``/``NO`` or ``FAILED`` (the solver
did not finish: never counted as a "no"), ``margin`` is t* (NaN unless solved), and
decisions rest on ``tol``: yes iff t* > tol. |t*| ≤ tol is *borderline* and counted.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import scipy.optimize
import scipy.sparse as sp

from jaxnet import checks

YES, NO, FAILED = 1, 0, -1
DEFAULT_TOL = 1e-7  # HiGHS's default primal feasibility tolerance


class LPResult(NamedTuple):
    status: int  # YES, NO or FAILED
    margin: float  # t* (NaN if the solver failed; -inf if infeasible)
    solver_status: int  # scipy's linprog status (0 solved, 2 infeasible, ...)
    borderline: bool  # |t*| <= tol: the decision rests on the tolerance
    method: str = "highs"  # 'highs', or 'span' (decided without a program)


def _solve_margin(
    n_vars, a_ub, b_ub, a_eq=None, b_eq=None, lower=None, tol=DEFAULT_TOL
):
    """max t over variables [z (n_vars), t] with given constraints; t ≤ 1."""
    c = np.zeros(n_vars + 1)
    c[-1] = -1.0
    bounds = [(None, None)] * n_vars if lower is None else [(lo, None) for lo in lower]
    bounds.append((None, 1.0))
    res = scipy.optimize.linprog(
        c, A_ub=a_ub, b_ub=b_ub, A_eq=a_eq, b_eq=b_eq, bounds=bounds, method="highs"
    )
    if res.status == 0:
        t = float(-res.fun)
        return LPResult(YES if t > tol else NO, t, 0, abs(t) <= tol)
    if res.status == 2:  # infeasible (only possible with equalities)
        return LPResult(NO, -np.inf, 2, False)
    return LPResult(FAILED, np.nan, int(res.status), False)


def _check_program(xt, pattern, v=None, y=None, *, x_name="xt", sorted_1d=False):
    """Validated float64 ``(xt, pattern, v, y)`` of a margin program (``None`` stays)."""
    x = checks.array(x_name, xt, ndim=1 if sorted_1d else 2, kind="real")
    if sorted_1d and np.any(np.diff(x) <= 0):
        raise ValueError(f"{x_name} must be strictly increasing")
    n = x.shape[0]
    pat = checks.array("pattern", pattern, shape=(None, n), kind="binary")
    if v is not None:
        v = checks.array("v", v, shape=(pat.shape[0],), kind="real").astype(np.float64)
    if y is not None:
        y = checks.array("y", y, shape=(n,), kind="real").astype(np.float64)
    return x.astype(np.float64), pat, v, y


def row_margin(xt: np.ndarray, a: np.ndarray, *, tol=DEFAULT_TOL) -> LPResult:
    """Is {w : (2a_j − 1)⟨w, x̃_j⟩ > 0 ∀j} non-empty?  ``xt: (n, d)``, ``a: (n,)``.

    Homogeneous, so t* is 1 (non-empty) or 0 (empty) up to the solver's accuracy.
    """
    xt = checks.array("xt", xt, ndim=2, kind="real").astype(np.float64)
    a = checks.array("a", a, shape=(xt.shape[0],), kind="binary")
    s = 2.0 * a.astype(np.float64) - 1.0
    n, d = xt.shape
    # -s_j <x_j, w> + t <= 0
    a_ub = np.hstack([-s[:, None] * xt, np.ones((n, 1))])
    return _solve_margin(d, a_ub, np.zeros(n), tol=tol)


def region_nonempty(xt: np.ndarray, pattern: np.ndarray, *, tol=DEFAULT_TOL):
    """Row-by-row non-emptiness of S_X^A (the region is a product of unit cones).

    Returns ``(status, margins)``: status YES iff every row is non-empty, NO if some row
    is empty, FAILED if a row's LP failed and no row was found empty.
    """
    xt, pattern, _, _ = _check_program(xt, pattern)
    rows = [row_margin(xt, a, tol=tol) for a in pattern]
    margins = np.array([r.margin for r in rows])
    statuses = [r.status for r in rows]
    if NO in statuses:
        return NO, margins
    if FAILED in statuses:
        return FAILED, margins
    return YES, margins


def global_min_margin(xt, pattern, v, y, *, tol=DEFAULT_TOL) -> LPResult:
    """Does S_X^A contain W with F(W, X) = y?  The full program, weights free.

    Args:
      xt: ``(n, d)`` inputs with the bias coordinate appended.
      pattern: ``(d1, n)`` 0/1 activation pattern A.
      v: ``(d1,)`` fixed output weights.
      y: ``(n,)`` targets.
    """
    xt, pat, v, y = _check_program(xt, pattern, v, y)
    pat = pat.astype(np.float64)
    n, d = xt.shape
    d1 = pat.shape[0]
    s = 2.0 * pat - 1.0
    # Inequalities, one per (i, j): -s_ij <x_j, w_i> + t <= 0. Variables w (d1*d) then t.
    rows = np.repeat(np.arange(d1 * n), d)
    cols = (
        (np.arange(d1)[:, None, None] * d + np.arange(d)[None, None, :])
        .repeat(n, axis=1)
        .ravel()
    )
    vals = (-s[:, :, None] * xt[None, :, :]).ravel()
    a_ub = sp.hstack(
        [
            sp.csr_matrix((vals, (rows, cols)), shape=(d1 * n, d1 * d)),
            sp.csr_matrix(np.ones((d1 * n, 1))),
        ]
    ).tocsr()
    # Equalities: sum_i v_i A_ij <x_j, w_i> = y_j.
    coef = (v[:, None] * pat).T  # (n, d1)
    a_eq = np.einsum("ji,jk->jik", coef, xt).reshape(n, d1 * d)
    a_eq = sp.hstack([sp.csr_matrix(a_eq), sp.csr_matrix((n, 1))]).tocsr()
    return _solve_margin(
        d1 * d, a_ub, np.zeros(d1 * n), a_eq, np.asarray(y, float), tol=tol
    )


def merge_units(pattern, v):
    """Units reduced to one per distinct (row of A, sign of v_i), with v = ±1.

    Exact for the global-minimum question: the contributions of units sharing a row
    and a sign of v form the same open convex cone K, and K + K = K; units with v_i = 0
    or an all-zero row add nothing to F. (Their rows' cones must still be non-empty for
    the region to be: the callers' regions are non-empty by construction.)
    """
    pat = np.asarray(pattern, bool)
    sign = np.sign(np.asarray(v, np.float64))
    keep = pat.any(axis=1) & (sign != 0)
    key = np.concatenate([pat[keep], (sign[keep] > 0)[:, None]], axis=1)
    uniq = np.unique(key, axis=0)
    return uniq[:, :-1], np.where(uniq[:, -1], 1.0, -1.0)


def cone_rays_1d(x_sorted: np.ndarray, pattern: np.ndarray) -> np.ndarray:
    """Extreme rays (r1, r2) of each unit's cone in (w, b) for sorted 1-D data.

    Rows of ``pattern`` must be step vectors (Lemma 8). With gap k = number of leading
    zeros (increasing step) or leading ones (decreasing step) and x_0 := x_1, x_{n+1} :=
    x_n at the ends, the open cone of w·x + b is:
      increasing 0^k 1^(n−k), 0 < k < n:  rays (1, −x_k), (1, −x_{k+1});
      decreasing 1^k 0^(n−k), 0 < k < n:  rays (−1, x_k), (−1, x_{k+1});
      all ones:   rays (1, −x_1), (−1, x_n);   all zeros: rays (−1, x_1), (1, −x_n).
    Returns ``(d1, 2, 2)``: ``[i, r] = (w, b)`` of ray r of unit i.
    """
    x = np.asarray(x_sorted, np.float64)
    pat = np.asarray(pattern, bool)
    n = x.shape[0]
    ones = pat.sum(axis=1)
    rays = np.empty((pat.shape[0], 2, 2))
    for i, row in enumerate(pat):
        k = int(ones[i])
        if k == n:
            rays[i] = [(1.0, -x[0]), (-1.0, x[-1])]
        elif k == 0:
            rays[i] = [(-1.0, x[0]), (1.0, -x[-1])]
        elif row[-1]:  # increasing: n - k leading zeros
            g = n - k
            rays[i] = [(1.0, -x[g - 1]), (1.0, -x[g])]
        else:  # decreasing: k leading ones
            rays[i] = [(-1.0, x[k - 1]), (-1.0, x[k])]
    return rays


def global_min_margin_1d(x_sorted, pattern, v, y, *, tol=DEFAULT_TOL) -> LPResult:
    """``global_min_margin`` for d0 = 1 with a bias, through the cones' extreme rays.

    Units are merged by ``merge_units`` first (at most 4n remain, whatever d1). The
    margin bounds α, β ≥ t (not the same t* as the full program, but t* > 0 in one iff
    in the other).
    """
    x, pattern, v, y = _check_program(
        x_sorted, pattern, v, y, x_name="x_sorted", sorted_1d=True
    )
    pat, v = merge_units(pattern, v)
    rays = cone_rays_1d(x, pat)  # (m, 2, 2)
    xt = np.stack([x, np.ones_like(x)], axis=1)  # (n, 2)
    vals = np.einsum("irk,jk->jir", rays, xt)  # <r, x~_j>: (n, m, 2)
    a_eq = (v[None, :, None] * pat.T[:, :, None] * vals).reshape(len(x), -1)
    m2 = a_eq.shape[1]
    a_eq = np.hstack([a_eq, np.zeros((len(x), 1))])
    # t - z <= 0 for every coefficient z
    a_ub = sp.hstack([-sp.identity(m2), sp.csr_matrix(np.ones((m2, 1)))]).tocsr()
    return _solve_margin(m2, a_ub, np.zeros(m2), a_eq, np.asarray(y, float), tol=tol)


def global_min_1d(x_sorted, pattern, v, y, *, tol=DEFAULT_TOL, rank_rtol=1e-10):
    """``global_min_margin_1d``, first trying a y-independent sufficient condition.

    A row carried by units of both signs of v contributes the whole plane spanned by
    its cone (K − K = span K for an open cone K). If these planes span R^n, every y is
    reached: the answer is YES with no program (``method='span'``). The span's rank is
    decided by SVD with relative tolerance ``rank_rtol``; a rank decision within a
    factor 100 of the tolerance is not trusted and the program is solved instead.
    """
    x, pattern, v, y = _check_program(
        x_sorted, pattern, v, y, x_name="x_sorted", sorted_1d=True
    )
    pat, sign = merge_units(pattern, v)
    rows, counts = np.unique(pat, axis=0, return_counts=True)
    both = rows[counts == 2]  # rows present with v > 0 and with v < 0
    n = x.shape[0]
    if len(both) * 2 >= n:
        rays = cone_rays_1d(x, both)  # (m, 2, 2)
        xt = np.stack([x, np.ones_like(x)], axis=1)
        span = (both.T[:, :, None] * np.einsum("irk,jk->jir", rays, xt)).reshape(n, -1)
        s = np.linalg.svd(span, compute_uv=False)
        if s[n - 1] > 100 * rank_rtol * s[0]:
            return LPResult(YES, np.nan, 0, False, "span")
    return global_min_margin_1d(x, pat, sign, y, tol=tol)
