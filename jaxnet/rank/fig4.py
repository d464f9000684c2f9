"""The Figure-4 engine: P(rank ∇_θF(θ, X) = n) at a random initialization, every trial
certified or decided by the SVD rule.

A cell is ``(n, d0, d1)``; a trial draws data and parameters under a convention
(``jaxnet.nets``), forms the Gram matrix G = J Jᵀ from the Khatri–Rao structure and
certifies full rank or rank deficiency from it (``jaxnet.rank.jacobian``). The trials the
certificate leaves ambiguous are re-drawn from their keys, their Jacobian J is formed in
closed form and the decision is made from its singular values (NumPy's SVD), so every
decision is the SVD rule's: full rank iff s_n(J) > rtol·s_1(J).

Rank rule per convention (``rank_dtype``):

- ``float64`` (default for ``paper``): rtol = max(n, P)·eps(float64), NumPy's default.
- ``float32`` (default for ``peer``): rtol = max(n, P)·eps(float32), the rule of the
  reference code's ``torch.linalg.matrix_rank`` on its float32 Jacobian. Data and
  parameters are then drawn in float32, as PyTorch does, and the singular values are
  those of that float32-valued Jacobian, computed in float64.

A trial is a draw for a *column* (n, d0) of the grid: data and a network of the
column's largest width D1. Its cut to the first d1 units is the trial of cell
(n, d0, d1) for every d1 at once (trial keys hash (convention, n, d0), not d1), so the
K Gram matrices of a column cost one (``jacobian.gram_by_width``: G(d1) is a prefix sum
over units) and only the factorizations are per width. Cells of one column are thus
common-random-number estimates: nested networks on the same data, each cell's
estimate unbiased, neighbouring widths positively correlated.

Columns run in a few compiled programs (``plan_buckets``), each drawing at its largest
(N, D0, D1) and masking; the draws are prefix-stable, so a cell's trial ``t`` is the
same in any sweep, bucket, chunk size or device count (tests check this).

Layout: the trial itself (grids, seeds, draws, the device unit) is
``jaxnet.rank.trials``, the exact tolerance-free ranks ``jaxnet.rank.exact``; this
module is the engine (host refinement, counts, the program planner, ``run_grid``) and
re-exports their public names.
"""

from __future__ import annotations

import time
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxnet import nets, runtime, stats
from jaxnet.rank import jacobian
from jaxnet.rank.exact import (  # noqa: F401  (re-exported: the engine's names)
    GRAM_PRIMES,
    _exact_ranks,
    exact_rank_fns,
    gram_residues,
    integer_data,
)
from jaxnet.rank.trials import (  # noqa: F401  (re-exported: the engine's names)
    DRAW_STREAM,
    FIG4_D0,
    FIG4_RATIOS,
    PEER_D0_GRID,
    PEER_RATIO_GRID,
    Columns,
    Grid,
    Setup,
    _trial_f64,
    column_mask,
    column_seed,
    device_fn,
    grid_columns,
    grid_seeds,
    jacobian_fn,
    make_grid,
    ratio_d0,
    sample_trial,
    sample_units,
)

CACHE_BYTES = 8 << 20  # working-set target of one compiled call (run_grid's chunk)


def make_refine(setup: Setup, cols: dict, *, batch=8):
    """Host step: re-decide AMBIGUOUS (trial, width) pairs: by the eigenvalues of their
    Gram matrix where it resolves the rule's tolerance (``setup.deficient_test``;
    ``jacobian.decide_by_eigenvalues``), otherwise by the SVD of their Jacobian.

    ``cols``: the program's columns as passed to ``runtime.run_device`` (``n``, ``d0``:
    ``(J,)``; ``rtol``: ``(J, K)``). The runner hands each block's trial keys to the
    returned ``refine(keys, col_idx, trial_idx, out)``. Adds ``s_ratio`` = s_n/s_1
    (NaN where not computed) and ``svd_rank`` (−1 where none), both ``(B, K)``.
    """
    col_n, col_d0, rtol = cols["n"], cols["d0"], cols["rtol"]
    wrt = nets.get_convention(setup.convention).wrt
    jac_one = jacobian_fn(setup)

    def gram_one(key, n, d0, d1):
        params, xs, row_mask = _trial_f64(setup, key, n, d0, d1)
        return jacobian.gram(params, xs, wrt, row_mask=row_mask)

    def batched(fn):
        return jax.jit(
            jax.vmap(
                lambda key, c, d1: fn(
                    key, jnp.asarray(col_n)[c], jnp.asarray(col_d0)[c], d1
                )
            )
        )

    jac_batch, gram_batch = batched(jac_one), batched(gram_one)

    def refine(keys, col_idx, trial_idx, out):
        def _batch_args(sel, size):  # (key, column, width) of (u, k) pairs, padded
            pad = np.concatenate([sel, np.repeat(sel[:1], size - len(sel), 0)])
            return (
                keys[pad[:, 0]],
                jnp.asarray(col_idx[pad[:, 0]], jnp.int32),
                jnp.asarray(np.asarray(setup.widths, np.int32)[pad[:, 1]]),
            )

        code = out["code"].astype(np.int8).copy()
        s_ratio = np.full(code.shape, np.nan)
        svd_rank = np.full(code.shape, -1, np.int32)
        todo = np.argwhere(code == jacobian.AMBIGUOUS)  # (u, k) pairs
        if setup.deficient_test and len(todo):  # the Gram resolves rtol: eigenvalues
            undecided = []
            for start in range(0, len(todo), batch):
                sel = todo[start : start + batch]
                grams = np.asarray(gram_batch(*_batch_args(sel, batch)))
                for (u, k), g in zip(sel, grams[: len(sel)], strict=True):
                    n = int(col_n[col_idx[u]])
                    full, s_ratio[u, k] = jacobian.decide_by_eigenvalues(
                        g[:n, :n], n, float(rtol[col_idx[u], k])
                    )
                    if full is None:
                        undecided.append((u, k))
                    else:
                        code[u, k] = (
                            jacobian.EIG_FULL if full else jacobian.EIG_DEFICIENT
                        )
            todo = np.array(undecided, int).reshape(-1, 2)
        for start in range(0, len(todo), batch):
            sel = todo[start : start + batch]
            jacs = np.asarray(jac_batch(*_batch_args(sel, batch)))
            for (u, k), jac in zip(sel, jacs[: len(sel)], strict=True):
                c = col_idx[u]
                n = int(col_n[c])
                cols = column_mask(
                    setup.convention, setup.sizes, int(col_d0[c]), int(setup.widths[k])
                )
                s = np.linalg.svd(jac[:n][:, cols], compute_uv=False)
                tol = float(rtol[c, k])
                rank = int(np.sum(s > tol * s[0])) if s[0] > 0 else 0
                svd_rank[u, k] = rank
                s_ratio[u, k] = s[n - 1] / s[0] if len(s) >= n and s[0] > 0 else 0.0
                code[u, k] = jacobian.SVD_FULL if rank == n else jacobian.SVD_DEFICIENT
        return {"code": code, "s_ratio": s_ratio, "svd_rank": svd_rank}

    return refine


def cell_counts(
    codes: np.ndarray, s_ratio: np.ndarray, rtol: float, beta: float
) -> dict:
    """One cell's counts from its trials' codes and refined s_n/s_1 (NaN where not
    refined): full_rank, p, Wilson 95% interval, how each trial was decided, how many
    were re-decided on the host (by SVD) and how many of those lie within a factor β of
    the tolerance (near threshold)."""
    t = codes.shape[0]
    k = int(np.isin(codes, jacobian.FULL_CODES).sum())
    lo, hi = stats.wilson_interval(k, t)
    refined = np.isfinite(s_ratio)
    near = refined & (np.abs(np.log(np.maximum(s_ratio, 1e-300) / rtol)) < np.log(beta))
    return {
        "trials": t,
        "full_rank": k,
        "p": k / t,
        "p_ci95": [float(lo), float(hi)],
        "decided_by": {
            name: int((codes == i).sum())
            for i, name in enumerate(jacobian.CODE_NAMES)
            if name != "ambiguous"
        },
        "host_refined": int(refined.sum()),
        "svd_refined": int(
            np.isin(codes, (jacobian.SVD_FULL, jacobian.SVD_DEFICIENT)).sum()
        ),
        "near_threshold": int(near.sum()),
    }


def summarize(
    grid: Grid,
    codes: np.ndarray,
    s_ratio: np.ndarray,
    beta: float,
    exact_rank: np.ndarray | None = None,
) -> list:
    """Per-cell counts (``cell_counts``) with the cell's coordinates."""
    cells = []
    full = np.isin(codes, jacobian.FULL_CODES)
    for c in range(len(grid.n)):
        cells.append(
            {
                **grid.cell(c),
                "rtol": float(grid.rtol[c]),
                **cell_counts(codes[c], s_ratio[c], float(grid.rtol[c]), beta),
            }
        )
        if exact_rank is not None:
            checked = exact_rank[c] >= 0
            exact_full = checked & (exact_rank[c] == grid.n[c])
            cells[-1]["exact"] = {
                "checked": int(checked.sum()),
                "full_rank": int(exact_full.sum()),
                # float says full, exact rank < n: a real error (never expected)
                "float_full_exact_deficient": int(
                    (checked & full[c] & ~exact_full).sum()
                ),
                # float says deficient, J exactly full rank: s_n ≤ rtol·s_1, a Jacobian
                # that float arithmetic cannot tell from a singular one (borderline)
                "float_deficient_exact_full": int(
                    (checked & ~full[c] & exact_full).sum()
                ),
            }
    return cells


def _column_flops(sizes, n_widths: int, factorizations: int) -> float:
    """Flops of one column trial's certificates at padded ``sizes``: the K Gram
    matrices, ``factorizations`` Cholesky factorizations and the power iteration per
    width."""
    n, d0, d1 = (float(v) for v in sizes)
    gram = 12 * n * d1 + 6 * n * n * n_widths if d0 == 1 else 2 * n * n * (2 * d1 + d0)
    return gram + n_widths * (factorizations * n**3 / 3 + 8 * n * n)


def _column_seconds(sizes, n_widths: int, factorizations: int) -> float:
    """Seconds per column trial at padded ``sizes``: a rough model, its constants set by
    hand from profiles on a 2-core CPU (jax 0.10.2, LAPACK Cholesky; not a fit).
    Terms: drawing, the Gram matmuls, the factorizations (with a per-matrix overhead).
    Only the ratios matter (bucket planning)."""
    n, d0, d1 = (float(v) for v in sizes)
    draw = 1e-8 * (n * d0 + d1 * (d0 + 2))
    gram = (4e-10 * n * n * (2 * d1 + d0)) if d0 > 1 else 1e-9 * n * (d1 + n_widths * n)
    chol = n_widths * factorizations * (5e-6 + 2.5e-11 * n**3)
    return draw + gram + chol


class Bucket(NamedTuple):
    columns: np.ndarray  # indices into the grid's Columns
    sizes: tuple[int, int, int]  # (N, D0, D1) the bucket's trials are drawn at
    widths: tuple[int, ...]  # the d1 values its certificates are computed at


def plan_buckets(
    grid: Grid,
    columns: Columns,
    *,
    max_buckets: int = 8,
    compile_seconds: float = 0.8,
    n_trials: int = 100,
    factorizations: int = 2,
) -> list[Bucket]:
    """Group the columns with a non-trivial cell (P ≥ n) into few compiled programs.

    One program for a whole grid pads every column to the largest (n, d0, d1) (on the
    ratio panels d0 runs to 380). Instead start from one bucket per column and merge,
    greedily, the pair whose merge adds the least padded work (``_column_seconds``)
    while there are more than ``max_buckets`` or a merge costs less than a compilation.
    A bucket's widths are its columns' non-trivial d1 values. Columns with d0 = 1 are
    never merged with others (their Gram matrices have an O(n·d1) form). The plan
    depends on the grid only, and a trial's draws do not depend on its bucket, so
    neither do the decisions.
    """
    live = grid.n_cols >= grid.n
    members = [
        np.flatnonzero(live & (columns.of_cell == j)) for j in range(len(columns.n))
    ]
    buckets = [np.array([j]) for j, m in enumerate(members) if len(m)]

    def describe(cols):
        cells = np.concatenate([members[j] for j in cols])
        sizes = (
            int(columns.n[cols].max()),
            int(columns.d0[cols].max()),
            int(grid.d1[cells].max()),
        )
        return sizes, tuple(int(w) for w in np.unique(grid.d1[cells]))

    def cost(cols):
        sizes, widths = describe(cols)
        return (
            len(cols) * n_trials * _column_seconds(sizes, len(widths), factorizations)
        )

    def compatible(a, b):
        return (columns.d0[a].max() == 1) == (columns.d0[b].max() == 1)

    buckets = runtime.merge_programs(
        buckets,
        cost,
        compile_seconds=compile_seconds,
        max_programs=max_buckets,
        compatible=compatible,
    )
    return sorted((Bucket(b, *describe(b)) for b in buckets), key=lambda b: b.sizes)


def run_grid(
    convention: str,
    grid: Grid,
    n_trials: int,
    *,
    ctx: runtime.Context,
    chunk: int,
    rank_dtype: str,
    family: str = "grid",
    beta: float = 2.0,
    max_buckets: int = 8,
    compile_seconds: float = 0.8,
    cholesky: str | None = None,
    exact_trials: int = 0,
    mesh=None,
) -> dict:
    """Every trial of every cell of ``grid``: certificate codes, refined on the host.

    Cells with fewer Jacobian columns than rows (P < n) are rank-deficient for every
    draw and are not run (code ``P_LT_N``); the others run column by column (one draw
    per (n, d0) and trial serves every d1), bucket by bucket (``plan_buckets``), each
    bucket one compiled program via ``runtime.run_device``.

    Args:
      max_buckets, compile_seconds: see ``plan_buckets``.
      chunk: the most column trials per device per call; a bucket uses fewer where
        its K·N² Gram matrices per trial would not fit ``CACHE_BYTES`` (at least 4).
      cholesky: the certificate's factorization (default ``jacobian.default_cholesky``).
      exact_trials: also compute the exact generic rank (``exact_rank_fns``) of the
        first ``exact_trials`` trials of every cell (``exact_rank``; −1 elsewhere).
      ctx: the run's context (required): its key, and every bucket is one of its
        parts (checkpoint, progress, stall watchdog, audit); a library call without
        a run passes ``runtime.Context.detached(name, None, base_key=key)``.

    Returns:
      dict with ``code`` (int8), ``s_ratio`` (float64, s_n/s_1 where refined on the
      host, else NaN), ``svd_rank`` (int32, -1 where no SVD), each ``(C,
      n_trials)``, and ``buckets``: a list of ``{'columns', 'cells', 'sizes',
      'widths', 'factorizations', 'chunk', 'compile_seconds', 'seconds'}``
      (``seconds``: running, after compiling).
    """
    base_key = ctx.base_key
    n_cells = len(grid.n)
    out = {
        "code": np.full((n_cells, n_trials), jacobian.P_LT_N, np.int8),
        "s_ratio": np.full((n_cells, n_trials), np.nan),
        "svd_rank": np.full((n_cells, n_trials), -1, np.int32),
    }
    exact_rank = np.full((n_cells, n_trials), -1, np.int32)
    mesh = runtime.device_mesh() if mesh is None else mesh
    if cholesky is None:
        cholesky = jacobian.default_cholesky(
            len(mesh.local_devices), mesh.devices.flat[0].platform
        )
    columns = grid_columns(convention, grid)
    live = grid.n_cols >= grid.n
    deficient_test = bool(live.any()) and jacobian.deficient_test_can_fire(
        float(grid.rtol[live].max()), int(grid.n[live].min()), beta
    )
    factorizations = 2 if deficient_test else 1
    plan = plan_buckets(
        grid,
        columns,
        max_buckets=max_buckets,
        compile_seconds=compile_seconds,
        n_trials=n_trials,
        factorizations=factorizations,
    )
    jobs = []
    for bucket in plan:
        setup = Setup(
            convention,
            bucket.sizes,
            rank_dtype,
            beta,
            bucket.widths,
            cholesky,
            deficient_test,
        )
        cols = bucket.columns
        n_cols = np.array(
            [
                [
                    jacobian.n_params(int(d0), w, nets.get_convention(convention).wrt)
                    for w in bucket.widths
                ]
                for d0 in columns.d0[cols]
            ],
            np.int32,
        )
        cells_of = [np.flatnonzero(live & (columns.of_cell == j)) for j in cols]
        rtol = np.ones(n_cols.shape)  # widths a column does not use: any valid value
        for r, cells in enumerate(cells_of):
            for c in cells:
                rtol[r, bucket.widths.index(int(grid.d1[c]))] = grid.rtol[c]
        cdict = {
            "n": columns.n[cols],
            "d0": columns.d0[cols],
            "n_cols": n_cols,
            "rtol": rtol,
        }
        # A unit holds K Gram matrices of N² floats, read and written by every step:
        # blocks that stay in cache run faster than the largest chunk (bench_full_rank,
        # same session: 8 heatmaps 30.3 s with this cap, 39.9 s with --chunk as given;
        # d0 = 1 grid 2.25 s vs 2.68 s). --chunk is documented as an upper bound and
        # each bucket's chunk is recorded in results.json (metadata.sweep_seconds).
        unit_bytes = 8 * len(bucket.widths) * bucket.sizes[0] ** 2
        chunk_k = int(min(chunk, max(4, CACHE_BYTES // unit_bytes)))
        jobs.append((bucket, setup, cdict, cells_of, device_fn(setup), chunk_k))

    def compile_job(job):
        bucket, _, cdict, _, unit, chunk_k = job
        t0 = time.perf_counter()
        fn = runtime.compile_block_fn(
            unit,
            cdict,
            columns.seed[bucket.columns],
            base_key=base_key,
            chunk=chunk_k,
            mesh=mesh,
        )
        return fn, time.perf_counter() - t0

    def run_job(k, block_fn, compile_s):
        bucket, setup, cdict, cells_of, unit, chunk_k = jobs[k]
        cols = bucket.columns
        t0 = time.perf_counter()
        res = ctx.device(
            unit,
            cdict,
            columns.seed[cols],
            n_trials,
            chunk=chunk_k,
            refine_fn=make_refine(setup, cdict),
            mesh=mesh,
            desc=f"full rank ({family}) [{k + 1}/{len(plan)}: N,D0,D1={bucket.sizes}]",
            block_fn=block_fn,
        )
        for r, cells in enumerate(cells_of):
            for c in cells:
                w = bucket.widths.index(int(grid.d1[c]))
                for name in out:
                    out[name][c] = res[name][r, :, w]
        if exact_trials:
            _exact_ranks(
                ctx,
                setup,
                cdict,
                columns.seed[cols],
                cells_of,
                grid,
                min(exact_trials, n_trials),
                exact_rank,
                np.isin(out["code"], jacobian.FULL_CODES),
            )
        return {
            "columns": len(cols),
            "cells": int(sum(map(len, cells_of))),
            "sizes": list(bucket.sizes),
            "widths": list(bucket.widths),
            "factorizations": factorizations,
            "chunk": chunk_k,
            "compile_seconds": compile_s,
            "seconds": time.perf_counter() - t0,
        }

    # Programs are compiled and run one at a time, in order (a multi-process run must
    # issue its collectives in the same order everywhere). Compiling the next program
    # on a spare core while one runs saved nothing measurable (bench_full_rank: 8
    # heatmaps 32.1 s / 30.3 s with it, 33.1 s without, same session), so it is gone.
    info = [run_job(k, *compile_job(job)) for k, job in enumerate(jobs)]
    out["compile_seconds"] = sum(b["compile_seconds"] for b in info)
    if exact_trials:
        out["exact_rank"] = exact_rank
    out["buckets"] = info
    return out
