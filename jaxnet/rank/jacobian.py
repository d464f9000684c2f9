"""Parameter Jacobians of F(θ, x) = Σ_i v_i σ(⟨w_i, x⟩ + b_i) on a data set, and their rank.

Two independent constructions of the ``(n, P)`` Jacobian ∇_θ F(θ, X):

- ``param_jacobian``: ``jax.vmap`` of ``jax.jacrev`` of the one-example network;
- ``closed_form_jacobian``: the slides' formula ∇_W F(W, X) = [(v ⊙ a⁽ʲ⁾) ⊗ x̃⁽ʲ⁾]_j,
  block by block: ``b``: v_i a_ij;  ``v``: σ(pre_ij);  ``w``: v_i a_ij x_jl.

Columns follow ``jax.flatten_util.ravel_pytree`` order of the differentiated blocks,
which is sorted by name (``b, v, w``); ``block_slices`` gives each block's columns.

Rank. ``matrix_rank`` is the plain reference: rank = #{s_k > rtol·s_1} from the singular
values of J, rtol defaulting to ``max(n, P)·eps(dtype)`` (NumPy's and PyTorch's rule).

The fast path never forms J. From the Khatri–Rao structure, with D = A ⊙ v (``(n, m)``),
H = σ(pre) and x̃ = (x, 1),

    G = J Jᵀ = [b] D Dᵀ + [v] H Hᵀ + [w] (D Dᵀ) ⊙ (X Xᵀ),          (n × n)

and rank J = rank G with s_k(J)² = λ_k(G). A Gram matrix resolves singular values only
down to about √(n·eps)·s_1 (it squares the condition number), so ``full_rank_certificate``
does not *decide* rank from G; it *certifies* it where G can, and says "ambiguous"
otherwise, so the caller re-decides that trial by the SVD of J:

- P < n, or a data point on which no unit is active (a zero row of J): rank < n, exactly;
- Cholesky of G − σ_hi I succeeds, σ_hi ≥ β²·rtol²·u (u ≥ λ_max): s_n > rtol·s_1;
- Cholesky of G − σ_lo I fails, σ_lo = rtol²·l/β² (l ≤ λ_max): s_n < rtol·s_1,
  used only where σ_lo is far above the Gram's rounding level 16·n·eps·u.

Both Cholesky tests allow for the backward error of forming and factoring G (taken as
16·n·eps·u). A certified trial keeps its decision for every tolerance in
[rtol/β, rtol·β]; the rest are the ones a tolerance can flip, and they are counted.

In float64 the Gram deficiency test cannot fire (rtol² ≪ n·eps), so every rank-deficient
trial would go to the SVD. ``pattern_deficiency`` certifies most of them from J itself:
for a piecewise-linear network, x ↦ ∇_θ F(θ, x) is affine on a set of inputs sharing an
activation pattern, so d0 + 2 such points give an explicit u with Jᵀu ≈ 0, and
s_n(J) ≤ ‖Jᵀu‖/‖u‖ is checked with rounding bounds (module ``pattern_deficiency``).

Length (about 650 lines): the Jacobians, the Gram matrices of every width, the rank
rule, both certificates and the exact ranks share one set of decision codes and one
rounding analysis (above); split, each piece would restate it.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxnet import checks
from jaxnet.nets import apply, check_network, preactivations
from jaxnet.types import Array, Params

# Certificate codes (``full_rank_certificate``) and the codes of an SVD re-decision.
(
    P_LT_N,
    ZERO_ROW,
    GRAM_DEFICIENT,
    GRAM_FULL,
    AMBIGUOUS,
    SVD_DEFICIENT,
    SVD_FULL,
    EIG_DEFICIENT,
    EIG_FULL,
    PATTERN_DEFICIENT,
) = range(10)
CODE_NAMES = (
    "p_lt_n",
    "zero_row",
    "gram_deficient",
    "gram_full",
    "ambiguous",
    "svd_deficient",
    "svd_full",
    "eig_deficient",
    "eig_full",
    "pattern_deficient",
)
FULL_CODES = (GRAM_FULL, SVD_FULL, EIG_FULL)

# Safety factor on the rounding error of forming and factoring G (see module docstring).
_GRAM_ROUNDING = 16.0


def _check_wrt(params: Params, wrt) -> tuple[str, ...]:
    wrt = tuple(sorted(wrt))
    unknown = [k for k in wrt if k not in params]
    if not wrt or unknown:
        raise ValueError(
            f"wrt must be a non-empty subset of {sorted(params)}; got {wrt!r}"
        )
    return wrt


def n_params(d: int, m: int, wrt) -> int:
    """Number of Jacobian columns P for input dim ``d``, width ``m``."""
    sizes = {"b": m, "v": m, "w": m * d}
    return sum(sizes[k] for k in wrt)


def block_slices(params: Params, wrt) -> dict[str, slice]:
    """Column slice of each differentiated block, in ``ravel_pytree`` (sorted) order."""
    out, start = {}, 0
    for k in _check_wrt(params, wrt):
        size = int(np.prod(params[k].shape))
        out[k] = slice(start, start + size)
        start += size
    return out


def per_example(fn, params, xs: Array) -> Array:
    """``(n, P)`` Jacobian of ``fn(params, x_j)`` (a scalar) w.r.t. the pytree ``params``
    by ``vmap(jacrev)``: row j for example ``xs[j]``, columns in ``ravel_pytree`` order
    (the leaves in tree order, each flattened).

    The one per-example Jacobian of jaxnet: the two-layer ``param_jacobian`` and the
    depth-L ``models.flat_jacobian`` are this with their own ``fn``. The derivative is
    taken leaf by leaf and the leaves concatenated (not through a raveled vector), which
    keeps the arithmetic of the stored results to the bit (the audit checks it).
    """
    jac = jax.vmap(jax.jacrev(fn), in_axes=(None, 0))(params, xs)
    rows = xs.shape[0]
    return jnp.concatenate([a.reshape(rows, -1) for a in jax.tree.leaves(jac)], axis=1)


def param_jacobian(params: Params, xs: Array, wrt=("b", "w")) -> Array:
    """``(n, P)`` Jacobian by ``vmap(jacrev(apply))`` w.r.t. the blocks in ``wrt``.

    Example (the slides' Jacobian of a random network, and its rank):
      >>> import jax
      >>> from jaxnet import data, nets
      >>> from jaxnet.rank import jacobian
      >>> xs = data.gaussian(jax.random.key(1), 10, 2)
      >>> for m in (8, 16):  # P = 3m columns: b (m), then w (m·2)
      ...     jac = jacobian.param_jacobian(nets.init_params(jax.random.key(0), 2, m), xs)
      ...     print(jac.shape, int(jacobian.matrix_rank(jac).rank))
      (10, 24) 8
      (10, 48) 10
      >>> params = nets.init_params(jax.random.key(0), d=2, m=16)
      >>> jac = jacobian.param_jacobian(params, xs)
      >>> bool(jax.numpy.allclose(jac, jacobian.closed_form_jacobian(params, xs)))
      True
    """
    check_network(params, xs)
    wrt = _check_wrt(params, wrt)
    return per_example(
        lambda p, x: apply({**params, **p}, x), {k: params[k] for k in wrt}, xs
    )


def closed_form_jacobian(params: Params, xs: Array, wrt=("b", "w")) -> Array:
    """``(n, P)`` Jacobian from the closed form [(v ⊙ a⁽ʲ⁾) ⊗ x⁽ʲ⁾]_j (module docstring)."""
    check_network(params, xs)
    wrt = _check_wrt(params, wrt)
    pre = preactivations(params, xs)
    d_mat = (pre > 0).astype(pre.dtype) * params["v"][None, :]
    blocks = {
        "b": lambda: d_mat,
        "v": lambda: jax.nn.relu(pre),
        "w": lambda: (d_mat[:, :, None] * xs[:, None, :]).reshape(xs.shape[0], -1),
    }
    return jnp.concatenate([blocks[k]() for k in wrt], axis=1)


def _width_blocks(widths, m: int):
    """Static ``(K, s)`` unit indices of the blocks [w_{k−1}, w_k) and their validity."""
    widths = [int(w) for w in widths]
    if not widths or sorted(set(widths)) != widths or widths[0] < 1 or widths[-1] > m:
        raise ValueError(
            f"widths must be increasing integers in [1, {m}]; got {widths}"
        )
    starts = np.array([0] + widths[:-1])
    sizes = np.array(widths) - starts
    offs = np.arange(int(sizes.max()))
    idx = np.minimum(starts[:, None] + offs[None, :], m - 1)
    return idx, offs[None, :] < sizes[:, None]


def gram_by_width(
    params: Params, xs: Array, wrt=("b", "w"), widths=None, *, row_mask=None
) -> Array:
    """``(K, n, n)`` Gram matrices J Jᵀ of the network cut to its first ``widths[k]`` units.

    The Jacobian of the first w units is a column subset of the whole network's, so
    G(w) = Σ_{i<w} G_i with G_i unit i's term: the K Gram matrices cost one, formed
    block by block ([w_{k−1}, w_k)) and summed cumulatively. J is never formed:

        G_i = [b] d_i d_iᵀ + [w] (d_i d_iᵀ) ⊙ (X Xᵀ) + [v] h_i h_iᵀ,

    d_i = a_i v_i (activation column times v_i), h_i = σ(pre_i). For one-dimensional
    inputs (``xs: (n, 1)``) a unit's activation is monotone in x: for w_i ≥ 0 it is
    active on a suffix of the sorted points, for w_i < 0 on a prefix (rounding keeps
    this: fl(w·x + b) is monotone in x), so a_ij a_ik = a_{i,lo} or a_{i,hi}, lo/hi being
    whichever of x_j, x_k is smaller/larger, and

        (G_i)_jk = a_ij a_ik (c0_i + c1_i (x_j + x_k) + c2_i x_j x_k),
        c0 = [b] v² + [v] b²,   c1 = [v] w·b,   c2 = [w] v² + [v] w²:

    G needs only six per-point sums s_c^±[j] = Σ_{i: ±} a_ij c_i, O(n·m + K·n²) instead
    of O(n²·m).

    Args:
      params: network parameters (``m`` units, input dim ``d``).
      xs: ``(n, d)`` inputs.
      wrt: differentiated blocks.
      widths: increasing widths in [1, m]; default ``(m,)``.
      row_mask: optional ``(n,)`` 0/1 mask; masked rows of J are zero (padding).
    """
    check_network(params, xs)
    wrt = _check_wrt(params, wrt)
    m = params["v"].shape[0]
    widths = (m,) if widths is None else tuple(int(w) for w in widths)
    idx, valid = _width_blocks(widths, m)
    pre = preactivations(params, xs)
    dtype = pre.dtype
    act = (pre > 0).astype(dtype)
    if row_mask is not None:
        act = act * row_mask.astype(dtype)[:, None]
    if xs.shape[1] == 1:
        blk_act = act[:, idx] * jnp.asarray(valid, dtype)[None]  # (n, K, s)
        w, b, v = params["w"][:, 0], params["b"], params["v"]
        zero = jnp.zeros_like(v)
        c0 = (v * v if "b" in wrt else zero) + (b * b if "v" in wrt else zero)
        c1 = w * b if "v" in wrt else zero
        c2 = (v * v if "w" in wrt else zero) + (w * w if "v" in wrt else zero)
        coef = jnp.stack([c0, c1, c2], axis=1)  # (m, 3)
        neg = (w < 0).astype(dtype)[:, None]
        # Per-point sums over the suffix (w ≥ 0) and prefix (w < 0) units, cumulative.
        s_pos = jnp.cumsum(
            jnp.einsum("nks,ksc->knc", blk_act, (coef * (1 - neg))[idx]), 0
        )
        s_neg = jnp.cumsum(jnp.einsum("nks,ksc->knc", blk_act, (coef * neg)[idx]), 0)
        x = xs[:, 0]
        first_le = (x[:, None] <= x[None, :])[None, :, :, None]  # x_j <= x_k: j is lo
        s = jnp.where(first_le, s_pos[:, :, None, :], s_pos[:, None, :, :]) + jnp.where(
            first_le, s_neg[:, None, :, :], s_neg[:, :, None, :]
        )
        g = (
            s[..., 0]
            + s[..., 1] * (x[:, None] + x[None, :])[None]
            + s[..., 2] * jnp.outer(x, x)[None]
        )
        if row_mask is not None:  # a masked j still reads s[k] where k is lo or hi
            mask = row_mask.astype(dtype)
            g = g * (mask[:, None] * mask[None, :])[None]
        return g

    k_widths = idx.shape[0]
    if k_widths * m <= 1024:  # few units: G_k = Σ_i [i < w_k] G_i, one matmul per term
        keep = jnp.asarray(np.arange(m)[None, :] < np.asarray(widths)[:, None], dtype)

        def prefix_gram(f):
            return jnp.einsum("ni,ki,mi->knm", f, keep, f)
    else:  # many units: one Gram per block of units, summed cumulatively

        def prefix_gram(f):
            blk = f[:, idx] * jnp.asarray(valid, dtype)[None]
            return jnp.cumsum(jnp.einsum("nks,mks->knm", blk, blk), 0)

    g = 0.0
    if "b" in wrt or "w" in wrt:
        xx = (xs @ xs.T if "w" in wrt else 0.0) + (1.0 if "b" in wrt else 0.0)
        g = prefix_gram(act * params["v"][None, :]) * jnp.asarray(xx, dtype)[None]
    if "v" in wrt:
        g = g + prefix_gram(act * pre)  # act·pre = relu(pre) on unmasked entries
    return g


def gram(params: Params, xs: Array, wrt=("b", "w"), *, row_mask=None) -> Array:
    """``(n, n)`` Gram matrix J Jᵀ from the Khatri–Rao structure, without forming J
    (``gram_by_width`` at the full width; O(n·m + n²) for one-dimensional inputs)."""
    return gram_by_width(params, xs, wrt, row_mask=row_mask)[0]


def default_rtol(n, n_cols, dtype) -> Array:
    """``max(n, P)·eps(dtype)``: NumPy's and PyTorch's default ``matrix_rank`` rule."""
    return jnp.maximum(n, n_cols) * jnp.finfo(dtype).eps


class RankResult(NamedTuple):
    rank: Array  # int, number of s_k > rtol·s_1
    s: Array  # (min(n, P),) singular values, descending
    rtol: Array  # the relative tolerance used


def matrix_rank(jac: Array, rtol=None) -> RankResult:
    """Rank of ``jac: (n, P)`` by its singular values: #{s_k > rtol·s_1}.

    Args:
      jac: the matrix.
      rtol: relative tolerance; default ``max(n, P)·eps(jac.dtype)``.
    """
    if jnp.ndim(jac) != 2 or 0 in jnp.shape(jac):
        raise ValueError(
            f"jac must be a non-empty 2-D matrix; got shape {jnp.shape(jac)}"
        )
    checks.finite("jac", jac)
    if rtol is not None:
        try:
            bad = not 0 <= float(rtol) < 1
        except jax.errors.ConcretizationTypeError:  # traced: left to run time
            bad = False
        if bad:
            raise ValueError(f"rtol must be in [0, 1); got {rtol}")
    s = jnp.linalg.svd(jac, compute_uv=False)
    if rtol is None:
        rtol = default_rtol(jac.shape[0], jac.shape[1], jac.dtype)
    return RankResult(jnp.sum(s > rtol * s[0]), s, jnp.asarray(rtol))


class Certificate(NamedTuple):
    code: Array  # int8, one of P_LT_N .. AMBIGUOUS
    lam_lo: Array  # l <= λ_max(G) (power-iteration Rayleigh quotient)
    lam_hi: Array  # u >= λ_max(G) (largest absolute row sum)


CHOLESKY = ("lapack", "xla")


def default_cholesky(local_devices: int, platform: str) -> str:
    """The certificate's factorization for a sweep: the platform's solver (LAPACK's
    ``potrf`` on CPU, cuSOLVER on GPU), except on several CPU devices of one process,
    where a batched LAPACK Cholesky under ``shard_map`` deadlocks XLA:CPU (jax 0.10.2:
    each device's kernel splits its batch over the intra-op pool with
    ``jax::ParallelBatchMap`` and waits on itself; minimal reproduction and backtrace in
    ``scripts/repro_xla_cpu_deadlock.py``) and the blocked factorization in plain XLA
    ops (``_chol_ok_xla``, 4-15× slower) runs instead."""
    return "xla" if platform == "cpu" and local_devices > 1 else "lapack"


def _chol_ok(mat: Array, cholesky: str = "lapack") -> Array:
    """Does the (unpivoted) Cholesky factorization of ``mat`` succeed with positive
    pivots? (``jnp.linalg.cholesky`` returns NaN where it does not.)"""
    if cholesky == "lapack":  # NaN everywhere on failure: the diagonal tells
        chol = jax.lax.linalg.cholesky(mat, symmetrize_input=False)
        return jnp.all(jnp.isfinite(jnp.diagonal(chol)))
    if cholesky == "xla":
        return _chol_ok_xla(mat)
    raise ValueError(f"cholesky must be one of {CHOLESKY}; got {cholesky!r}")


def _chol_ok_xla(mat: Array, block: int = 8) -> Array:
    """``_chol_ok`` as a blocked right-looking Cholesky in plain XLA ops (a
    ``fori_loop`` over blocks of ``block`` columns; each diagonal block factored and
    inverted by unrolled steps; the trailing matrix updated by one matmul per block)."""
    size = mat.shape[0]
    pad = (-size) % block
    if pad:  # identity on the padding keeps definiteness unchanged
        mat = jnp.pad(mat, ((0, pad), (0, pad))) + jnp.diag(
            jnp.concatenate([jnp.zeros(size, mat.dtype), jnp.ones(pad, mat.dtype)])
        )
    total = size + pad
    rows = jnp.arange(total)
    bidx = jnp.arange(block)

    def body(j, state):
        a, ok = state
        start = j * block
        d = jax.lax.dynamic_slice(a, (start, start), (block, block))
        chol = jnp.zeros_like(d)
        for k in range(block):  # unblocked Cholesky of the diagonal block
            piv = d[k, k]
            ok = ok & (piv > 0) & jnp.isfinite(piv)
            root = jnp.sqrt(jnp.where(piv > 0, piv, 1.0))
            col = jnp.where(bidx >= k, d[:, k], 0.0) / root
            chol = chol.at[:, k].set(col)
            rest = jnp.where(bidx > k, col, 0.0)
            d = d - rest[:, None] * rest[None, :]
        inv = jnp.zeros_like(chol)  # chol⁻¹ by forward substitution, row by row
        eye = jnp.eye(block, dtype=a.dtype)
        for k in range(block):
            row = (eye[k] - chol[k] @ inv) / chol[k, k]
            inv = inv.at[k].set(jnp.where(bidx <= k, row, 0.0))
        below = rows >= start + block
        panel = jnp.where(
            below[:, None], jax.lax.dynamic_slice(a, (0, start), (total, block)), 0.0
        )
        panel = panel @ inv.T  # the factor's rows below the block
        return a - panel @ panel.T, ok

    ok0 = jnp.isfinite(mat[0, 0])  # derived from mat: varies like it under shard_map
    _, ok = jax.lax.fori_loop(0, total // block, body, (mat, ok0))
    return ok


def decide_by_eigenvalues(g, n: int, rtol: float, dtype=np.float64):
    """Host re-decision of an ambiguous trial from the eigenvalues of its Gram matrix.

    ``g``: the ``(n, n)`` Gram matrix (NumPy). λ̂ = ``eigvalsh(g)`` is within
    δ = 16·n·eps·u of the exact λ(J Jᵀ) (forming G, and LAPACK's backward-stable
    ``syevd``, u ≥ λ_max the largest absolute row sum), so s_n > rtol·s_1 ⟺ λ_n > rtol²·λ_1
    is decided where |λ̂_n − rtol²·λ̂_1| > (1 + rtol²)·δ. That holds for most trials of a
    float32 rule (rtol² ≫ n·eps), almost none of a float64 rule.

    Returns ``(full, s_ratio)``, ``full`` None where undecided; s_ratio = √(λ̂_n/λ̂_1).
    """
    lam = np.linalg.eigvalsh(g)
    lam_n, lam_1 = lam[0], lam[-1]
    u = float(np.max(np.abs(g).sum(axis=1)))
    delta = _GRAM_ROUNDING * n * float(np.finfo(dtype).eps) * u
    ratio = float(np.sqrt(max(lam_n, 0.0) / lam_1)) if lam_1 > 0 else 0.0
    gap = lam_n - rtol**2 * lam_1
    if abs(gap) <= (1 + rtol**2) * delta:
        return None, ratio
    return bool(gap > 0), ratio


def deficient_test_can_fire(
    rtol_max: float, n_min: int, beta: float, dtype=np.float64
) -> bool:
    """Can the certificate's rank-deficiency test fire for some cell with rtol ≤
    ``rtol_max`` and n ≥ ``n_min``? It needs σ_lo = rtol²·l/β² ≥ 2·16·n·eps·u, and l ≤ u."""
    eps = float(np.finfo(dtype).eps)
    return rtol_max**2 / beta**2 >= 2 * _GRAM_ROUNDING * n_min * eps


def full_rank_certificate(
    g: Array,
    n,
    n_cols,
    rtol,
    *,
    row_mask=None,
    beta: float = 2.0,
    cholesky: str = "lapack",
    deficient_test: bool = True,
) -> Certificate:
    """Certify rank J = n (or rank J < n) from ``g = J Jᵀ``, or answer AMBIGUOUS.

    Args:
      g: ``(N, N)`` Gram matrix, rows beyond the true ``n`` zero (padding).
      n: true number of data points (may be traced).
      n_cols: true number of Jacobian columns P (may be traced).
      rtol: the rank rule's relative tolerance on singular values (may be traced).
      row_mask: ``(N,)`` bool, True on the ``n`` real rows; default all rows.
      beta: certification margin: certified decisions hold for every tolerance in
        [rtol/β, rtol·β]. Must satisfy β² ≥ 2.
      cholesky: ``'lapack'`` or ``'xla'`` (``default_cholesky``).
      deficient_test: run the rank-deficiency test. It can only fire where
        σ_lo ≥ 2·(rounding level), i.e. rtol²/β² ≥ 32·n·eps; callers skip it (one
        factorization instead of two) where no cell's rtol allows that.

    Returns:
      ``Certificate``; ``code == GRAM_FULL`` means full rank is certified.
    """
    if beta * beta < 2:
        raise ValueError(f"beta must satisfy beta**2 >= 2; got {beta}")
    size = g.shape[0]
    dtype = g.dtype
    if row_mask is None:
        row_mask = jnp.ones((size,), bool)
    maskf = row_mask.astype(dtype)
    eye = jnp.eye(size, dtype=dtype)
    u = jnp.max(jnp.sum(jnp.abs(g), axis=1))

    # l ≤ λ_max: the largest diagonal entry, and the Rayleigh quotient of the
    # normalized row mask after one power iteration (it only sets the deficiency
    # test's shift σ_lo).
    y = g @ (maskf / jnp.sqrt(jnp.maximum(n, 1)))
    x = y / jnp.maximum(jnp.linalg.norm(y), jnp.finfo(dtype).tiny)
    lam_lo = jnp.maximum(jnp.max(jnp.diagonal(g)), x @ g @ x)
    resolution = _GRAM_ROUNDING * n * jnp.finfo(dtype).eps * u
    rtol = jnp.asarray(rtol, dtype)
    sigma_hi = jnp.maximum(beta**2 * rtol**2 * u, 2 * resolution)
    sigma_lo = rtol**2 * lam_lo / beta**2
    pad_diag = (1.0 - maskf) * jnp.maximum(u, 1.0)

    def shifted(sigma):
        return g - sigma * eye * maskf[None, :] + eye * pad_diag[None, :]

    full = _chol_ok(shifted(sigma_hi), cholesky)
    if deficient_test:  # where full rank is certified, factor −I (fails at once)
        lo = jnp.where(full, -eye, shifted(sigma_lo))
        deficient = (sigma_lo >= 2 * resolution) & ~_chol_ok(lo, cholesky)
    else:
        deficient = jnp.zeros((), bool)
    zero_row = jnp.any(row_mask & (jnp.diagonal(g) == 0))
    code = jnp.select(
        [n_cols < n, zero_row, full, deficient],
        [P_LT_N, ZERO_ROW, GRAM_FULL, GRAM_DEFICIENT],
        AMBIGUOUS,
    ).astype(jnp.int8)
    return Certificate(code, lam_lo, u)


def _gamma(k, eps):
    """Higham's γ_k = k·eps/(1 − k·eps): the relative error bound of a k-term sum."""
    return k * eps / (1 - k * eps)


def pattern_deficiency(
    j: Array, xs: Array, bits: Array, n, d0, rtol, *, row_mask=None, beta: float = 2.0
) -> tuple[Array, Array]:
    """Certify s_n(J) < (rtol/β)·s_1(J) from an affine dependency among rows of J.

    For a network that is piecewise linear in its input (ReLU MLPs), the rows
    J_j = ∇_θ F(θ, x_j) of points sharing one activation pattern are an affine function
    of x_j, so any d0 + 2 of them are linearly dependent: Σ_k u_k (x_k, 1) = 0 gives
    Σ_k u_k J_k = 0 in exact arithmetic. The test takes the largest pattern class; if it
    has ≥ d0 + 2 points, solves for u on its first d0 + 2, and checks, with rounding
    bounds (Higham's γ_k on every sum, 2γ on every norm; classes are found by a random
    linear hash of the bits),

        ‖Jᵀu‖ / ‖u‖  <  (rtol/β) · s_lo,     s_lo ≤ s_1(J),

    where s_lo = max(largest row norm, ‖Jᵀw‖/‖w‖ for w one power-iteration vector).
    Since s_n(J) = min_u ‖Jᵀu‖/‖u‖ (P ≥ n), a pass proves rank J < n under every
    tolerance ≥ rtol/β, whatever the patterns: wrong or tied patterns only make the test
    fail, and a failed test decides nothing.

    Args:
      j: ``(N, P)`` Jacobian, rows beyond ``n`` zero; P ≥ n assumed (the caller
        handles P < n).
      xs: ``(N, D)`` inputs, coordinates beyond ``d0`` zero.
      bits: ``(N, H)`` bool activation pattern of each input (every hidden unit).
      n, d0: true numbers of points and input coordinates (may be traced).
      rtol: the rank rule's relative tolerance; beta: the certification margin.
      row_mask: ``(N,)`` bool, True on the ``n`` real rows; default all rows.

    Returns:
      ``(certified, ratio_hi)``: bool, and an upper bound on s_n/s_1 (+inf where the
      test did not apply).
    """
    size, d_max = xs.shape
    dtype = j.dtype
    eps = jnp.finfo(dtype).eps
    n_cols = j.shape[1]
    k_slots = min(d_max + 2, size)
    if row_mask is None:
        row_mask = jnp.ones((size,), bool)
    # classes by a random linear hash of the bits (a collision can only fail the test)
    weights = jax.random.uniform(jax.random.key(0), (bits.shape[1],), dtype, 1.0, 2.0)
    tag = bits.astype(dtype) @ weights
    same = (tag[:, None] == tag[None, :]) & row_mask[:, None] & row_mask[None, :]
    count = same.sum(axis=1)
    big = jnp.argmax(count)
    applies = count[big] >= d0 + 2
    idx = jnp.nonzero(same[big], size=k_slots, fill_value=0)[0]
    slots = jnp.arange(k_slots)
    xt = jnp.concatenate([jnp.ones((k_slots, 1), dtype), xs[idx].astype(dtype)], axis=1)
    # rows i ≤ d0: Σ_s u_s x̃_s[i] = 0 over slots s ≤ d0 + 1; row d0 + 1: u_{d0+1} = 1;
    # the other rows pin u_s = 0 for the unused slots.
    constraint = (slots[:, None] <= d0) & (slots[None, :] <= d0 + 1)
    xt_rows = jnp.zeros((k_slots, k_slots), dtype).at[: d_max + 1].set(xt.T[:k_slots])
    mat = jnp.where(
        constraint,
        xt_rows,
        jnp.where(slots[:, None] > d0, jnp.eye(k_slots, dtype=dtype), 0.0),
    )
    u = jnp.linalg.solve(mat, (slots == d0 + 1).astype(dtype))
    u = jnp.where(slots <= d0 + 1, u, 0.0)
    rows = j[idx]
    r = u @ rows
    a = jnp.abs(u) @ jnp.abs(rows)
    norm_fac = 1 + 2 * _gamma(n_cols + 1, eps)
    resid_hi = (
        jnp.linalg.norm(r) + 2 * _gamma(k_slots, eps) * jnp.linalg.norm(a)
    ) * norm_fac
    u_lo = jnp.linalg.norm(u) * (1 - 2 * _gamma(k_slots + 1, eps))
    # s_1 from below: the largest row norm, and ‖Jᵀw‖/‖w‖ after one power iteration
    mask = row_mask.astype(dtype)
    row_sq = jnp.sum(j * j, axis=1)
    row_lo = jnp.sqrt(jnp.max(row_sq) * (1 - 2 * _gamma(n_cols, eps)))
    w = j @ (j.T @ mask)
    q = j.T @ w
    # |fl(Jᵀw) − Jᵀw| ≤ γ_N |J|ᵀ|w|, and ‖|J|ᵀ|w|‖ ≤ ‖J‖_F ‖w‖
    q_err = (
        2
        * _gamma(size, eps)
        * jnp.sqrt(jnp.sum(row_sq))
        * jnp.linalg.norm(w)
        * norm_fac**2
    )
    power_lo = (jnp.linalg.norm(q) / norm_fac - q_err) / (jnp.linalg.norm(w) * norm_fac)
    s_lo = jnp.maximum(row_lo, jnp.where(jnp.isfinite(power_lo), power_lo, 0.0))
    ratio_hi = resid_hi / (u_lo * s_lo)
    ok = applies & jnp.isfinite(ratio_hi) & (u_lo > 0) & (s_lo > 0)
    certified = ok & (ratio_hi < jnp.asarray(rtol, dtype) / beta)
    return certified, jnp.where(ok, ratio_hi, jnp.inf)


# ---------------------------------------------------------------------------
# Exact rank of integer matrices (for 0/1 patterns: Theorem 3, Lemma 4).

PRIMES = (
    2147483647,
    2147483629,
    2147483587,
    2147483579,
    2147483563,
    2147483549,
    2147483543,
    2147483497,
)  # the eight largest primes below 2^31


def _inv_mod(a, p):
    """a^(p−2) mod p by square-and-multiply (int64; a, p < 2^31)."""

    def body(i, state):
        result, base = state
        bit = ((p - 2) >> i) & 1
        result = jnp.where(bit == 1, (result * base) % p, result)
        return result, (base * base) % p

    result, _ = jax.lax.fori_loop(0, 31, body, (jnp.ones_like(a), a % p))
    return result


def _mod_product(x: Array, p: int) -> Array:
    """``x mod p`` for int64 ``0 ≤ x < 2^62`` (a product of two residues), without an
    integer division: the quotient x/p < 2^31 is estimated in float64 with an error
    below 2^−20, so its floor is off by at most one, and one correction each way makes
    the remainder exact."""
    q = jnp.floor(x.astype(jnp.float64) * (1.0 / p)).astype(jnp.int64)
    r = x - q * p
    r = jnp.where(r < 0, r + p, r)
    return jnp.where(r >= p, r - p, r)


def rank_mod_p(mat: Array, p: int = PRIMES[0]) -> Array:
    """Rank over the field Z/p of an integer matrix ``(n, m)`` (Gauss–Jordan, int64).

    rank_p ≤ rank over Q, with equality unless p divides every maximal nonzero minor
    (for a square matrix: rank_p = n ⟹ det ≠ 0 over Q, exactly). Needs x64 and p < 2^31.
    """
    if not jax.config.jax_enable_x64:
        raise ValueError("rank_mod_p needs jax_enable_x64 (int64 arithmetic)")
    n, m = mat.shape
    a = jnp.asarray(mat).astype(jnp.int64) % p
    rows = jnp.arange(n)

    def body(k, state):
        a, used, rank = state
        col = a[:, k]
        cand = (col != 0) & ~used
        has = jnp.any(cand)
        piv = jnp.argmax(cand)
        prow = _mod_product(a[piv] * _inv_mod(a[piv, k], p), p)
        factor = jnp.where(rows == piv, 0, col)
        reduced = a - _mod_product(factor[:, None] * prow[None, :], p)
        reduced = jnp.where(reduced < 0, reduced + p, reduced).at[piv].set(prow)
        a = jnp.where(has, reduced, a)
        return a, used | (has & (rows == piv)), rank + has.astype(jnp.int32)

    _, _, rank = jax.lax.fori_loop(
        0, m, body, (a, jnp.zeros((n,), bool), jnp.zeros((), jnp.int32))
    )
    return rank


def integer_rank(mat) -> int:
    """Exact rank over Q of an integer matrix, by fraction-free (Bareiss) elimination
    in Python integers. Host-side, for checks and for the rare trials a prime misjudges."""
    a = [[int(v) for v in row] for row in np.asarray(mat)]
    n = len(a)
    m = len(a[0]) if n else 0
    rank, prev = 0, 1
    for k in range(m):
        piv = next((r for r in range(rank, n) if a[r][k] != 0), None)
        if piv is None:
            continue
        a[rank], a[piv] = a[piv], a[rank]
        for r in range(rank + 1, n):
            for c in range(k + 1, m):
                a[r][c] = (a[r][c] * a[rank][k] - a[r][k] * a[rank][c]) // prev
            a[r][k] = 0
        prev = a[rank][k]
        rank += 1
    return rank
