"""The full-rank experiment (the slides' Figure 4): P(rank ∇_θF(θ, X) = n) at random init.

A cell is ``(n, d0, d1)``; a trial draws data and parameters under a convention
(``jaxnet.nets``), forms the Gram matrix G = J Jᵀ from the Khatri–Rao structure and
certifies full rank or rank deficiency from it (``jaxnet.jacobian``). The trials the
certificate leaves ambiguous are re-drawn from their keys, their Jacobian J is formed in
closed form and the decision is made from its singular values (NumPy's SVD), so every
decision is the SVD rule's: full rank iff s_n(J) > rtol·s_1(J).

Rank rule per convention (``rank_dtype``):

- ``float64`` (default for ``paper``): rtol = max(n, P)·eps(float64), NumPy's default.
- ``float32`` (default for ``peer``): rtol = max(n, P)·eps(float32), the rule of the
  reference code's ``torch.linalg.matrix_rank`` on its float32 Jacobian. Data and
  parameters are then drawn in float32, as PyTorch does, and the singular values are
  those of that float32-valued Jacobian, computed in float64.

All cells of a sweep share one compiled program: data and parameters are drawn at the
sweep's largest sizes (N, D0, D1) and masked down to the cell's (n, d0, d1); the draws
are prefix-stable, so a cell's trial ``t`` is the same in any sweep (a test checks this).
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxnet import data, jacobian, nets, stats, sweep

# The public reference code's grids (``experiments/full_rank_regions.py``).
PEER_D0_GRID = {"n": list(range(10, 101, 10)), "d1": list(range(30, 301, 30))}
PEER_RATIO_GRID = {"n": list(range(10, 191, 20)), "d1": list(range(1, 16))}
FIG4_D0 = (1, 2, 3, 5)
FIG4_RATIOS = (0.25, 0.5, 1.0, 2.0)
RANK_DTYPE_DEFAULT = {"paper": "float64", "peer": "float32"}


def ratio_d0(ratio: float, n: int) -> int:
    """d0 = ⌈ratio·n⌉, computed exactly from the decimal ratio (0.1·30 is 3, not 4)."""
    return math.ceil(Fraction(str(ratio)) * n)


class Grid(NamedTuple):
    """The cells of one sweep: parallel ``(C,)`` arrays."""

    panel: np.ndarray  # str: 'd0=1' or 'ratio=0.5'
    n: np.ndarray
    d0: np.ndarray
    d1: np.ndarray
    n_cols: np.ndarray  # Jacobian columns P
    rtol: np.ndarray


def make_grid(
    convention: str,
    *,
    d0_values=(),
    ratios=(),
    n_values,
    d1_values,
    rank_dtype: str,
    rtol: float | None = None,
) -> Grid:
    """The cells of a Figure-4 panel family: every (panel, n, d1)."""
    wrt = nets.JACOBIAN_WRT[convention]
    rows = []
    panels = [(f"d0={d}", lambda n, d=d: d) for d in d0_values] + [
        (f"ratio={r:g}", lambda n, r=r: ratio_d0(r, n)) for r in ratios
    ]
    eps = float(np.finfo(rank_dtype).eps)
    for name, d0_of in panels:
        for n in n_values:
            for d1 in d1_values:
                d0 = d0_of(n)
                p = jacobian.n_params(d0, d1, wrt)
                tol = max(n, p) * eps if rtol is None else rtol
                rows.append((name, n, d0, d1, p, tol))
    if not rows:
        raise ValueError("the grid is empty: give --d0 or --ratio, and --n and --d1")
    cols = list(zip(*rows, strict=True))
    return Grid(
        np.array(cols[0]),
        *(np.array(c, np.int32) for c in cols[1:5]),
        np.array(cols[5], np.float64),
    )


def grid_seeds(convention: str, grid: Grid) -> np.ndarray:
    return np.array(
        [
            sweep.cell_seed("full_rank", convention, int(n), int(d0), int(d1))
            for n, d0, d1 in zip(grid.n, grid.d0, grid.d1, strict=True)
        ],
        np.uint32,
    )


def sample_trial(key, convention: str, n, d0, d1, *, sizes, dtype):
    """Data and parameters of one trial, drawn at padded ``sizes=(N, D0, D1)``.

    Returns ``(params, xs, row_mask)``: rows ≥ n of ``xs`` and units ≥ d1, coordinates
    ≥ d0 of the parameters are zero; ``row_mask: (N,)`` marks the n real data points.
    """
    big_n, big_d0, big_d1 = sizes
    k_x, k_p = jax.random.split(key)
    row_mask = jnp.arange(big_n) < n
    feat = (jnp.arange(big_d0) < d0).astype(dtype)
    unit = (jnp.arange(big_d1) < d1).astype(dtype)
    if convention == "paper":
        xs = data.gaussian(k_x, big_n, big_d0, dtype=dtype)
    else:
        xs = data.uniform_box(k_x, big_n, big_d0, dtype=dtype)
    xs = xs * feat[None, :] * row_mask[:, None].astype(dtype)
    params = nets.init_params(
        k_p, big_d0, big_d1, convention=convention, d_true=d0, dtype=dtype
    )
    params = {
        "w": params["w"] * unit[:, None] * feat[None, :],
        "b": params["b"] * unit,
        "v": params["v"] * unit,
    }
    return params, xs, row_mask


class Setup(NamedTuple):
    convention: str
    sizes: tuple[int, int, int]
    sample_dtype: str
    beta: float


def make_setup(convention: str, grid: Grid, rank_dtype: str, beta: float) -> Setup:
    sizes = (int(grid.n.max()), int(grid.d0.max()), int(grid.d1.max()))
    return Setup(convention, sizes, rank_dtype, beta)


def unit_fn(setup: Setup):
    """``(key, cell) -> {'code'}``: the Gram certificate of one trial."""
    wrt = nets.JACOBIAN_WRT[setup.convention]

    def one(key, cell):
        params, xs, row_mask = sample_trial(
            key, setup.convention, cell["n"], cell["d0"], cell["d1"],
            sizes=setup.sizes, dtype=jnp.dtype(setup.sample_dtype),
        )
        params = jax.tree.map(lambda a: a.astype(jnp.float64), params)
        g = jacobian.gram(params, xs.astype(jnp.float64), wrt, row_mask=row_mask)
        cert = jacobian.full_rank_certificate(
            g, cell["n"], cell["n_cols"], cell["rtol"], row_mask=row_mask,
            beta=setup.beta,
        )
        return {"code": cert.code}

    return one


def jacobian_fn(setup: Setup):
    """``(key, cell) -> (N, P_max)`` closed-form Jacobian of a trial, padded with zeros."""
    wrt = nets.JACOBIAN_WRT[setup.convention]

    def one(key, cell):
        params, xs, row_mask = sample_trial(
            key, setup.convention, cell["n"], cell["d0"], cell["d1"],
            sizes=setup.sizes, dtype=jnp.dtype(setup.sample_dtype),
        )
        params = jax.tree.map(lambda a: a.astype(jnp.float64), params)
        jac = jacobian.closed_form_jacobian(params, xs.astype(jnp.float64), wrt)
        return jac * row_mask[:, None]

    return one


def column_mask(convention: str, sizes, d0: int, d1: int) -> np.ndarray:
    """Which of the padded Jacobian's columns belong to a cell with (d0, d1)."""
    _, big_d0, big_d1 = sizes
    unit = np.arange(big_d1) < d1
    blocks = {
        "b": unit,
        "v": unit,
        "w": (unit[:, None] & (np.arange(big_d0) < d0)[None, :]).ravel(),
    }
    return np.concatenate([blocks[k] for k in nets.JACOBIAN_WRT[convention]])


def make_refine(setup: Setup, grid: Grid, seeds: np.ndarray, base_key, *, batch=8):
    """Host step: re-decide AMBIGUOUS trials by the SVD of their Jacobian.

    Adds ``s_ratio`` = s_n/s_1 (NaN where not computed) and ``svd_rank``.
    """
    jac_batch = jax.jit(
        jax.vmap(
            lambda t, c: jacobian_fn(setup)(
                sweep.trial_key(base_key, jnp.asarray(seeds)[c], t),
                {"n": jnp.asarray(grid.n)[c], "d0": jnp.asarray(grid.d0)[c],
                 "d1": jnp.asarray(grid.d1)[c]},
            )
        )
    )

    def refine(cell_idx, trial_idx, out):
        code = out["code"].astype(np.int8).copy()
        s_ratio = np.full(code.shape, np.nan)
        svd_rank = np.full(code.shape, -1, np.int32)
        todo = np.flatnonzero(code == jacobian.AMBIGUOUS)
        for start in range(0, len(todo), batch):
            sel = todo[start : start + batch]
            pad = np.concatenate([sel, np.full(batch - len(sel), sel[0])])
            jacs = np.asarray(
                jac_batch(
                    jnp.asarray(trial_idx[pad], jnp.int32),
                    jnp.asarray(cell_idx[pad], jnp.int32),
                )
            )
            for u, jac in zip(sel, jacs[: len(sel)], strict=True):
                c = cell_idx[u]
                n, rtol = int(grid.n[c]), float(grid.rtol[c])
                cols = column_mask(setup.convention, setup.sizes, int(grid.d0[c]),
                                   int(grid.d1[c]))
                s = np.linalg.svd(jac[:n][:, cols], compute_uv=False)
                rank = int(np.sum(s > rtol * s[0])) if s[0] > 0 else 0
                svd_rank[u] = rank
                s_ratio[u] = s[n - 1] / s[0] if len(s) >= n and s[0] > 0 else 0.0
                code[u] = jacobian.SVD_FULL if rank == n else jacobian.SVD_DEFICIENT
        return {"code": code, "s_ratio": s_ratio, "svd_rank": svd_rank}

    return refine


def summarize(grid: Grid, codes: np.ndarray, s_ratio: np.ndarray, beta: float) -> list:
    """Per-cell counts: full_rank, p, Wilson 95% interval, how each trial was decided."""
    cells = []
    full = np.isin(codes, jacobian.FULL_CODES)
    for c in range(len(grid.n)):
        t = codes.shape[1]
        k = int(full[c].sum())
        lo, hi = stats.wilson_interval(k, t)
        by_code = {
            name: int((codes[c] == i).sum())
            for i, name in enumerate(jacobian.CODE_NAMES)
            if name != "ambiguous"
        }
        refined = np.isfinite(s_ratio[c])
        near = refined & (np.abs(np.log(np.maximum(s_ratio[c], 1e-300) / grid.rtol[c]))
                          < np.log(beta))
        cells.append({
            "panel": str(grid.panel[c]),
            "n": int(grid.n[c]), "d0": int(grid.d0[c]), "d1": int(grid.d1[c]),
            "n_params": int(grid.n_cols[c]), "rtol": float(grid.rtol[c]),
            "trials": t, "full_rank": k, "p": k / t,
            "p_ci95": [float(lo), float(hi)],
            "decided_by": by_code,
            "svd_refined": int(refined.sum()),
            "near_threshold": int(near.sum()),
        })
    return cells
