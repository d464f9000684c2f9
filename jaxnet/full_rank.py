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
import time
from fractions import Fraction
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxnet import jacobian, nets, prng, stats, sweep

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
    row_mask = jnp.arange(big_n) < n
    feat = (jnp.arange(big_d0) < d0).astype(dtype)
    unit = (jnp.arange(big_d1) < d1).astype(dtype)
    # One hash call for the whole trial: parameter streams 0-2, data stream 3.
    bits = prng.stream_bits(key, {**nets.param_shapes(big_d0, big_d1),
                                  "x": (big_n, big_d0)})
    if convention == "paper":
        xs = prng.normal(bits["x"], dtype)  # x iid N(0, I)
    else:
        xs = prng.uniform(bits["x"], dtype)  # x iid U[0, 1)^d0
    xs = xs * feat[None, :] * row_mask[:, None].astype(dtype)
    params = nets.params_from_bits(bits, convention=convention, d_true=d0, dtype=dtype)
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


def _trial_f64(setup: Setup, key, cell):
    """A trial's ``(params, xs, row_mask)`` at the setup's sizes, cast to float64."""
    params, xs, row_mask = sample_trial(
        key, setup.convention, cell["n"], cell["d0"], cell["d1"],
        sizes=setup.sizes, dtype=jnp.dtype(setup.sample_dtype),
    )
    params = jax.tree.map(lambda a: a.astype(jnp.float64), params)
    return params, xs.astype(jnp.float64), row_mask


def unit_fn(setup: Setup):
    """``(key, cell) -> {'code'}``: the Gram certificate of one trial.

    Where every cell of the setup has d0 = 1 the Gram matrix is formed by
    ``jacobian.gram_1d`` (O(n·d1 + n²) instead of O(n²·d1)).
    """
    wrt = nets.JACOBIAN_WRT[setup.convention]
    gram_of = jacobian.gram_1d if setup.sizes[1] == 1 else jacobian.gram

    def one(key, cell):
        params, xs, row_mask = _trial_f64(setup, key, cell)
        g = gram_of(params, xs, wrt, row_mask=row_mask)
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
        params, xs, row_mask = _trial_f64(setup, key, cell)
        jac = jacobian.closed_form_jacobian(params, xs, wrt)
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


def _cell_flops(n, d0, d1) -> float:
    """Flops of one trial's certificate at (padded) sizes: Gram, 2 Choleskys, power."""
    n, d0, d1 = float(n), float(d0), float(d1)
    gram = 12 * n * d1 + 6 * n * n if d0 == 1 else 2 * n * n * (2 * d1 + d0)
    return gram + 2 * n**3 / 3 + 24 * n * n


def _cell_seconds(n, d0, d1) -> float:
    """Seconds per trial at (padded) sizes: a model fitted on a 2-core CPU (jax 0.10.2).

    Terms: the Gram matmuls (only for d0 > 1), the Cholesky factorizations, forming
    the activation pattern, drawing the data. Only the ratios matter (bucket planning).
    """
    n, d0, d1 = float(n), float(d0), float(d1)
    gram = 1e-4 * n * n * (2 * d1 + d0) if d0 > 1 else 0.0
    return 1e-6 * (gram + 2e-4 * n**3 + 2e-3 * n * d1 + 1e-2 * n * d0)


class Bucket(NamedTuple):
    cells: np.ndarray  # indices into the grid
    sizes: tuple[int, int, int]  # (N, D0, D1) the bucket's trials are drawn at


def plan_buckets(grid: Grid, *, max_buckets: int = 8,
                 compile_seconds: float = 0.5, n_trials: int = 100) -> list[Bucket]:
    """Group the non-trivial cells (P ≥ n) into few compiled programs of little padding.

    One program per sweep pads every cell to the sweep's largest (n, d0, d1): 4.7× the
    work on the d0 = 1 grid and far more on the ratio panels (d0 up to 380). Instead,
    start from one bucket per (n, d0) and merge, greedily, the pair whose merge adds the
    least padded work (``_cell_seconds``), while there are more than ``max_buckets`` or a
    merge costs less than a compilation (``compile_seconds``). Cells with d0 = 1 are never
    merged with others (their Gram matrix has its own O(n·d1) form). The plan depends on
    the grid and ``n_trials`` only, never on the chunk or device count, and a trial's
    draws do not depend on its bucket's sizes, so neither do the decisions.
    """
    live = np.flatnonzero(grid.n_cols >= grid.n)
    groups: dict[tuple, list[int]] = {}
    for c in live:
        groups.setdefault((int(grid.n[c]), int(grid.d0[c])), []).append(int(c))
    buckets = [np.array(v) for _, v in sorted(groups.items())]

    def sizes(idx):
        return (int(grid.n[idx].max()), int(grid.d0[idx].max()), int(grid.d1[idx].max()))

    def cost(idx):
        return len(idx) * n_trials * _cell_seconds(*sizes(idx))

    costs = [cost(b) for b in buckets]
    while len(buckets) > 1:
        best = None
        for i in range(len(buckets)):
            for j in range(i + 1, len(buckets)):
                if (grid.d0[buckets[i]].max() == 1) != (grid.d0[buckets[j]].max() == 1):
                    continue
                merged = np.concatenate([buckets[i], buckets[j]])
                extra = cost(merged) - costs[i] - costs[j]
                if best is None or extra < best[0]:
                    best = (extra, i, j, merged)
        if best is None or (len(buckets) <= max_buckets and best[0] >= compile_seconds):
            break
        extra, i, j, merged = best
        buckets = [b for k, b in enumerate(buckets) if k not in (i, j)] + [np.sort(merged)]
        costs = [c for k, c in enumerate(costs) if k not in (i, j)] + [cost(merged)]
    return sorted((Bucket(b, sizes(b)) for b in buckets), key=lambda b: b.sizes)


def subgrid(grid: Grid, idx) -> Grid:
    return Grid(*(a[idx] for a in grid))


def run_grid(
    convention: str,
    grid: Grid,
    n_trials: int,
    *,
    base_key,
    chunk: int,
    rank_dtype: str,
    beta: float = 2.0,
    max_buckets: int = 8,
    compile_seconds: float = 0.5,
    checkpoint_prefix=None,
    fingerprint: str = "",
    progress: bool = True,
    mesh=None,
    desc: str = "full rank",
) -> dict:
    """Every trial of every cell of ``grid``: certificate codes, refined by SVD.

    Cells with fewer Jacobian columns than rows (P < n) are rank-deficient for every
    draw and are not run (code ``P_LT_N``); the others run bucket by bucket
    (``plan_buckets``), each bucket one compiled program via ``sweep.run_sweep``.

    Args:
      max_buckets, compile_seconds: see ``plan_buckets``.
      checkpoint_prefix: a path prefix; bucket ``k`` checkpoints to
        ``{prefix}-b{k}.npz`` (tagged with ``fingerprint`` and the bucket's cells).

    Returns:
      dict with ``code`` (int8), ``s_ratio`` (float64, NaN where no SVD was needed),
      ``svd_rank`` (int32, -1 where none), each ``(C, n_trials)``, and ``buckets``: a
      list of ``{'cells', 'sizes', 'seconds'}``.
    """
    from jaxnet import io

    n_cells = len(grid.n)
    out = {
        "code": np.full((n_cells, n_trials), jacobian.P_LT_N, np.int8),
        "s_ratio": np.full((n_cells, n_trials), np.nan),
        "svd_rank": np.full((n_cells, n_trials), -1, np.int32),
    }
    seeds = grid_seeds(convention, grid)
    mesh = sweep.device_mesh() if mesh is None else mesh
    jobs = []
    for k, bucket in enumerate(plan_buckets(grid, max_buckets=max_buckets,
                                            compile_seconds=compile_seconds,
                                            n_trials=n_trials)):
        sub = subgrid(grid, bucket.cells)
        setup = Setup(convention, bucket.sizes, rank_dtype, beta)
        cells = {"n": sub.n, "d0": sub.d0, "d1": sub.d1, "n_cols": sub.n_cols,
                 "rtol": sub.rtol}
        jobs.append((k, bucket, sub, setup, cells, unit_fn(setup)))

    info = []
    for k, bucket, sub, setup, cells, unit in jobs:
        block_fn = sweep.compile_block_fn(unit, cells, seeds[bucket.cells],
                                          base_key=base_key, chunk=chunk, mesh=mesh)
        ckpt = None
        if checkpoint_prefix is not None:
            tag = io.fingerprint({"run": fingerprint, "cells": bucket.cells.tolist(),
                                  "sizes": list(bucket.sizes)})
            ckpt = io.Checkpoint(f"{checkpoint_prefix}-b{k}.npz", tag)
        t0 = time.perf_counter()
        res = sweep.run_sweep(
            unit, cells, seeds[bucket.cells], n_trials, base_key=base_key,
            chunk=chunk, refine_fn=make_refine(setup, sub, seeds[bucket.cells], base_key),
            checkpoint=ckpt, progress=progress, mesh=mesh,
            desc=f"{desc} [{k + 1}: N,D0,D1={bucket.sizes}]", block_fn=block_fn,
        )
        for name in out:
            out[name][bucket.cells] = res[name]
        info.append({"cells": len(bucket.cells), "sizes": list(bucket.sizes),
                     "seconds": time.perf_counter() - t0})
    out["buckets"] = info
    return out
