"""Exact generic ranks of Figure-4 trials (Lemma 4): tolerance-free, modulo primes.

The rank of J = [(v ⊙ a⁽ʲ⁾) ⊗ x̃⁽ʲ⁾]_j for data in general position is that of the same
trial's activation pattern with integer data (``integer_data``); it is computed from
the Gram matrix of integer factors modulo two primes (``gram_residues``), and where the
Gram is deficient but the float decision said full rank, from K itself
(``exact_rank_fns``, ``_full_k_refine``). ``_exact_ranks`` runs them as parts of a run
context, one per elimination size.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from jaxnet import nets, prng
from jaxnet.rank import jacobian
from jaxnet.rank.trials import Setup, _trial_f64


def integer_data(key, big_n: int, big_d0: int, d0):
    """A trial's integer data for its exact generic rank (Lemma 4): ``(N, D0 + 1)``
    int64, x' uniform in [−2^20, 2^20) on the first ``d0`` coordinates (drawn from its
    own stream of the trial's key), then the appended 1."""
    words = prng.stream_bits(
        prng.derive_key(key, *prng.INTEGER_DATA_TAG), {"x": (big_n, big_d0)}
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
