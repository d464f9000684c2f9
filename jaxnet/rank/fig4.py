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
"""

from __future__ import annotations

import functools
import math
import time
from fractions import Fraction
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxnet import data, nets, prng, runtime, stats
from jaxnet.rank import jacobian

# The public reference code's grids (``experiments/full_rank_regions.py``).
PEER_D0_GRID = {"n": list(range(10, 101, 10)), "d1": list(range(30, 301, 30))}
PEER_RATIO_GRID = {"n": list(range(10, 191, 20)), "d1": list(range(1, 16))}
FIG4_D0 = (1, 2, 3, 5)
FIG4_RATIOS = (0.25, 0.5, 1.0, 2.0)
CACHE_BYTES = 8 << 20  # working-set target of one compiled call (run_grid's chunk)


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
    wrt = nets.get_convention(convention).wrt
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


# The name the draws of a column are hashed under. It is part of every trial key of
# Figure 4 and of the experiments that reuse its draws (threshold, deep_rank,
# gradient_descent): changing it changes every number they report.
DRAW_STREAM = "full_rank"


def column_seed(convention: str, n: int, d0: int) -> int:
    """The seed of column (n, d0)'s draws under ``convention``: every width d1, depth
    and experiment that reuses the Figure-4 draw of (n, d0) gets the same trials."""
    return runtime.cell_seed(DRAW_STREAM, convention, int(n), int(d0))


def grid_seeds(convention: str, grid: Grid) -> np.ndarray:
    """Each cell's seed: its column's (``column_seed``), not a hash of d1."""
    return np.array(
        [column_seed(convention, n, d0) for n, d0 in zip(grid.n, grid.d0, strict=True)],
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
    conv = nets.get_convention(convention)
    # One hash call for the whole trial: parameter streams 0-2, data stream 3.
    bits = prng.stream_bits(
        key, {**nets.param_shapes(big_d0, big_d1), "x": (big_n, big_d0)}
    )
    xs = data.LAWS[conv.data](bits["x"], dtype, feat) * row_mask[:, None].astype(dtype)
    params = conv.init(bits, d0, dtype)
    params = {
        "w": params["w"] * unit[:, None] * feat[None, :],
        "b": params["b"] * unit,
        "v": params["v"] * unit,
    }
    return params, xs, row_mask


def sample_units(key, convention: str, start, size: int, d0, *, big_d0: int, dtype):
    """Units [start, start + size) of ``sample_trial``'s network: ``nets.init_units``."""
    return nets.init_units(key, convention, start, size, d0, big_d0=big_d0, dtype=dtype)


class Setup(NamedTuple):
    """What one compiled program needs: draws at ``sizes = (N, D0, D1)``, certificates
    at each of ``widths`` (increasing, the last ≤ D1)."""

    convention: str
    sizes: tuple[int, int, int]
    sample_dtype: str
    beta: float
    widths: tuple[int, ...]
    cholesky: str = "lapack"
    deficient_test: bool = True


def _trial_f64(setup: Setup, key, n, d0, d1):
    """A trial's ``(params, xs, row_mask)`` at the setup's sizes, cast to float64."""
    params, xs, row_mask = sample_trial(
        key,
        setup.convention,
        n,
        d0,
        d1,
        sizes=setup.sizes,
        dtype=jnp.dtype(setup.sample_dtype),
    )
    params = jax.tree.map(lambda a: a.astype(jnp.float64), params)
    return params, xs.astype(jnp.float64), row_mask


def unit_fn(setup: Setup):
    """``(key, column) -> {'code': (K,)}``: the Gram certificates of one trial of a column
    (n, d0) at every width of ``setup.widths``.

    ``column`` holds ``n``, ``d0`` and, per width, ``n_cols`` and ``rtol`` (``(K,)``).
    The K Gram matrices come from one draw at the largest width (``gram_by_width``).
    """
    wrt = nets.get_convention(setup.convention).wrt

    def one(key, col):
        params, xs, row_mask = _trial_f64(
            setup, key, col["n"], col["d0"], setup.sizes[2]
        )
        g = jacobian.gram_by_width(params, xs, wrt, setup.widths, row_mask=row_mask)
        cert = jax.vmap(
            lambda g, n_cols, rtol: (
                jacobian.full_rank_certificate(
                    g,
                    col["n"],
                    n_cols,
                    rtol,
                    row_mask=row_mask,
                    beta=setup.beta,
                    cholesky=setup.cholesky,
                    deficient_test=setup.deficient_test,
                ).code
            )
        )(g, col["n_cols"], col["rtol"])
        return {"code": cert}

    return one


def jacobian_fn(setup: Setup):
    """``(key, n, d0, d1) -> (N, P_max)`` closed-form Jacobian of a trial cut to width
    d1, padded with zeros."""
    wrt = nets.get_convention(setup.convention).wrt

    def one(key, n, d0, d1):
        params, xs, row_mask = _trial_f64(setup, key, n, d0, d1)
        jac = jacobian.closed_form_jacobian(params, xs, wrt)
        return jac * row_mask[:, None]

    return one


def integer_data(key, big_n: int, big_d0: int, d0):
    """A trial's integer data for its exact generic rank (Lemma 4): ``(N, D0 + 1)``
    int64, x' uniform in [−2^20, 2^20) on the first ``d0`` coordinates (drawn from its
    own stream of the trial's key), then the appended 1."""
    words = prng.stream_bits(
        prng.derive_key(key, 0x65786163, 1), {"x": (big_n, big_d0)}
    )["x"][0]
    x_int = (words >> 11).astype(jnp.int64) - (1 << 20)
    x_int = x_int * (jnp.arange(big_d0) < d0)[None, :]
    return jnp.concatenate([x_int, jnp.ones((big_n, 1), jnp.int64)], axis=1)


def exact_rank_fns(setup: Setup):
    """``(gram_rank, full_rank)``, each ``(key, n, d0, d1) -> rank``: the trial's exact
    generic rank, tolerance-free, in two steps.

    The rank of J = [(v ⊙ a⁽ʲ⁾) ⊗ x̃⁽ʲ⁾]_j over the reals is, for data drawn from a
    density, almost surely the *generic* rank of its activation pattern A (Lemma 4:
    within A's region J is a polynomial in X, nonzero v_i only scale columns, and under
    ``peer`` the v-block σ(⟨w_i, x⟩ + b_i) = Σ_l w_il a_i x_l + b_i a_i lies in the span
    of the unit's other columns). So the trial's real pattern A is combined with
    integer data x' uniform in [−2^20, 2^20) (drawn from the trial's key) into the
    integer matrix K = [a⁽ʲ⁾ ⊗ (x'⁽ʲ⁾, 1)]_j, whose rank is ≤ the generic rank, with
    equality except with probability ≤ n/2^20 (Schwartz–Zippel).

    ``gram_rank`` is the larger of the ranks of K·Kᵀ = (A·Aᵀ) ∘ (X'·X'ᵀ) (the Khatri–Rao
    Gram, n × n, formed exactly in int64: ``gram_residues``) modulo two primes p₁, p₂ ≈
    2^31, at O(n³) cost. Each is ≤ rank K, so a value n proves rank K = n; a smaller
    value means K is deficient unless p₁·p₂ divides the nonzero integer det K·Kᵀ.
    ``full_rank`` is the rank of K itself modulo p₁, O(n²·d1·d0): ``_exact_ranks``
    re-decides with it every trial whose Gram is deficient but whose float decision
    was "full", the only trials where a Gram misjudgement could hide (or fake) a
    disagreement. Neither uses a tolerance.
    """
    big_n = setup.sizes[0]
    residues = gram_residues(setup)

    def gram_rank(key, n, d0, d1):
        return _gram_ranks(residues(key, n, d0, d1)[None], big_n)[0]

    def full_rank(key, n, d0, d1):
        act, xt = _integer_factors(setup, key, n, d0, d1)
        kr = (act[:, :, None] * xt[:, None, :]).reshape(big_n, -1)
        return jacobian.rank_mod_p(kr.T)  # Gauss–Jordan over the N ≤ P columns of Kᵀ

    return gram_rank, full_rank


GRAM_PRIMES = jacobian.PRIMES[:2]


def _integer_factors(setup: Setup, key, n, d0, d1):
    """The trial's real activation pattern ``(N, D1)`` (rows ≥ n zero) and its integer
    data ``(N, D0 + 1)`` (``integer_data``), both int64."""
    big_n, big_d0, _ = setup.sizes
    params, xs, row_mask = _trial_f64(setup, key, n, d0, d1)
    act = ((nets.preactivations(params, xs) > 0) & row_mask[:, None]).astype(jnp.int64)
    return act, integer_data(key, big_n, big_d0, d0)


def gram_residues(setup: Setup):
    """``(key, n, d0, d1) -> (2, N, N)`` int64: the Khatri–Rao Gram K·Kᵀ = (A·Aᵀ) ∘
    (X'·X'ᵀ) of the trial (``exact_rank_fns``) modulo each of ``GRAM_PRIMES``. Rows and
    columns ≥ n are zero, so its leading m × m block (any m ≥ n) has the same rank."""

    def residues(key, n, d0, d1):
        act, xt = _integer_factors(setup, key, n, d0, d1)
        # |x'·x'| ≤ (D0 + 1)·2^40 < 2^63 and residues < 2^31: every product is exact.
        aa, xx = act @ act.T, xt @ xt.T
        return jnp.stack([(aa % p) * (xx % p) % p for p in GRAM_PRIMES])

    return residues


def _rank_size(n: int) -> int:
    """The leading block a Gram of n real rows is eliminated at: n rounded up to a
    multiple of max(16, 2^⌊log₂ n⌋/4) (few compiled shapes, under 25% extra rows
    beyond 64)."""
    step = max(16, 1 << max(int(n).bit_length() - 3, 0))
    return -(-int(n) // step) * step


@functools.partial(jax.jit, static_argnums=(1,))
def _gram_ranks(residues, m: int):
    """``(B, 2, N, N)`` Gram residues -> ``(B,)``: the larger rank modulo the two
    primes of each leading ``m × m`` block."""
    block = residues[:, :, :m, :m]
    return jnp.maximum(
        *(
            jax.vmap(lambda a, p=p: jacobian.rank_mod_p(a, p))(block[:, i])
            for i, p in enumerate(GRAM_PRIMES)
        )
    )


def column_mask(convention: str, sizes, d0: int, d1: int) -> np.ndarray:
    """Which of the padded Jacobian's columns belong to a cell with (d0, d1)."""
    _, big_d0, big_d1 = sizes
    unit = np.arange(big_d1) < d1
    blocks = {
        "b": unit,
        "v": unit,
        "w": (unit[:, None] & (np.arange(big_d0) < d0)[None, :]).ravel(),
    }
    return np.concatenate([blocks[k] for k in nets.get_convention(convention).wrt])


class Columns(NamedTuple):
    """The distinct (n, d0) of a grid's cells: the trials' unit of work.

    A trial of column (n, d0) is one draw of data and a width-D1 network; its cut to
    the first d1 units is the trial of cell (n, d0, d1), for every d1 at once.
    """

    n: np.ndarray  # (J,)
    d0: np.ndarray  # (J,)
    seed: np.ndarray  # (J,) uint32
    of_cell: np.ndarray  # (C,) the column of each cell


def grid_columns(convention: str, grid: Grid) -> Columns:
    pairs = sorted({(int(n), int(d0)) for n, d0 in zip(grid.n, grid.d0, strict=True)})
    index = {p: j for j, p in enumerate(pairs)}
    n, d0 = (np.array(c, np.int32) for c in zip(*pairs, strict=True))
    seeds = np.array([column_seed(convention, *p) for p in pairs], np.uint32)
    of_cell = np.array(
        [index[int(a), int(b)] for a, b in zip(grid.n, grid.d0, strict=True)], np.int32
    )
    return Columns(n, d0, seeds, of_cell)


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
                "panel": str(grid.panel[c]),
                "n": int(grid.n[c]),
                "d0": int(grid.d0[c]),
                "d1": int(grid.d1[c]),
                "n_params": int(grid.n_cols[c]),
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


def _gram_rank_unit(setup: Setup, m: int):
    """``(key, cell) -> {'rank'}``: the rank of the trial's Gram residues
    (``gram_residues``), eliminated at its leading ``m × m`` block."""
    residues = gram_residues(setup)

    def one(key, cell):
        res = residues(key, cell["n"], cell["d0"], cell["d1"])
        return {"rank": _gram_ranks(res[None], m)[0]}

    return one


def _full_k_refine(setup: Setup, cells: dict, float_full, batch: int):
    """Host step of the exact check: where the Gram is deficient but the float decision
    (``float_full[c, t]``) said full rank, the rank of K itself (``exact_rank_fns``)."""
    _, full_fn = exact_rank_fns(setup)
    fn = jax.jit(
        jax.vmap(
            lambda key, c: full_fn(
                key,
                jnp.asarray(cells["n"])[c],
                jnp.asarray(cells["d0"])[c],
                jnp.asarray(cells["d1"])[c],
            )
        )
    )

    def refine(keys, cell_idx, trial_idx, out):
        rank = out["rank"].copy()
        todo = np.flatnonzero(
            (rank < cells["n"][cell_idx]) & float_full[cell_idx, trial_idx]
        )
        for start in range(0, len(todo), batch):
            sel = todo[start : start + batch]
            pad = np.concatenate([sel, np.full(batch - len(sel), sel[0])])
            got = np.asarray(fn(keys[pad], jnp.asarray(cell_idx[pad], jnp.int32)))
            rank[sel] = got[: len(sel)]
        return {"rank": rank}

    return refine


def _exact_ranks(
    ctx, setup, cols, seeds, cells_of, grid, k, exact_rank, float_full, batch=16
):
    """Fill ``exact_rank[c, :k]`` for the bucket's cells: the Gram's rank for every
    trial, K's own rank where the Gram is deficient and the float decision
    (``float_full[c, t]``) was full rank (``exact_rank_fns``). One part of ``ctx``
    per elimination size.

    The Grams are formed at the bucket's padded N and eliminated at their cell's n
    rounded up (``_rank_size``): O(n³), not O(N³), per trial; rows ≥ n are zero, so
    the rank is the same."""
    by_size = {}
    for r, cells in enumerate(cells_of):
        for c in cells:
            by_size.setdefault(_rank_size(int(grid.n[c])), []).append((r, int(c)))
    for m, group in sorted(by_size.items()):
        rows, cs = [r for r, _ in group], [c for _, c in group]
        cells = {
            "n": np.asarray(cols["n"])[rows],
            "d0": np.asarray(cols["d0"])[rows],
            "d1": grid.d1[cs].astype(np.int32),
        }
        part_seeds = np.asarray(seeds)[rows]
        out = ctx.device(
            _gram_rank_unit(setup, m),
            cells,
            part_seeds,
            k,
            chunk=batch,
            refine_fn=_full_k_refine(setup, cells, float_full[cs, :k], batch),
            desc=f"exact ranks (m = {m})",
        )
        exact_rank[cs, :k] = out["rank"]


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
        jobs.append((bucket, setup, cdict, cells_of, unit_fn(setup), chunk_k))

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
