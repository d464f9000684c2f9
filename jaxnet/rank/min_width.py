"""The minimal full-rank width w* of a trial, exactly: every width from one draw.

A trial is data X (n points) and a network of D units; its cut to the first d1 units
is the trial at width d1. In exact arithmetic the rank of the Jacobian J(d1) = ∇_W F
(paper convention: W = [w | b], v fixed) is non-decreasing in d1 (columns are only
added), so each trial has a *minimal full-rank width* w* = min{d1 : rank J(d1) = n}
(``D + 1`` if none ≤ D: censored) and P(full rank at d1) = P(w* ≤ d1) for every d1 at
once. Two exact engines:

**d0 = 1: a combinatorial rank** (``rank_1d``, ``min_width_1d``). Sort the data,
x₁ < … < x_n (distinct: almost surely). Unit i's columns are v_i·a_i and v_i·a_i ∘ x
with a_i its activation pattern, a *suffix* {c+1, …, n} if w_i > 0 or a *prefix*
{1, …, c} if w_i < 0. Call c the unit's *cut* and give it class 1 (suffix) or 0
(prefix). Then, with the pins P₀ = {0} ∪ {cuts of prefix units}, P₁ = {n} ∪ {cuts of
suffix units}, the distinct pins 0 = π₀ < π₁ < … < π_m = n cutting {1..n} into
segments of L_j = π_{j+1} − π_j points,

    rank J = Σ_j min(2, L_j) − δ,

where δ = 0 if some pin is in both P₀ and P₁, and otherwise δ = 2, 1 or 0 as none,
one, or two or more of the *class-changing* segments (whose end pins lie in different
classes) have a single point.

*Proof.* rank J = n − dim V^⊥, V the column space. For λ ∈ Rⁿ let M(k) =
Σ_{j≤k} λ_j (1, x_j) ∈ R² (M(0) = 0). λ ⊥ (a_i, a_i ∘ x) reads M(c) = M(0) = 0 for a
prefix unit with cut c and M(c) = M(n) =: Δ for a suffix unit. So λ ∈ V^⊥ iff M takes
the value 0 on P₀ and Δ on P₁. Between consecutive pins, the segment sum S_j =
Σ_{k∈seg j} λ_k (1, x_k) ranges over an image of dimension r_j = min(2, L_j) (the
(1, x_k) of two distinct points span R²) with a kernel of dimension L_j − r_j, and the
constraints say S_j = 0 on a segment whose end pins have the same class, S_j = ±Δ on a
class-changing one. A pin in both classes forces Δ = 0; otherwise Δ is free in the
intersection of the class-changing segments' images: R² if none has a single point,
the line of its point if one has, {0} if two or more have (distinct points give
distinct lines). So dim V^⊥ = Σ_j (L_j − r_j) + δ. ∎

Hence rank J = n iff every segment has ≤ 2 points and δ = 0. Both conditions only
get easier as units (pins) are added, and w* follows from when each cut position is
first pinned, per class: O(n + D) per trial after sorting (``min_width_1d``). The
rank needs neither genericity nor a tolerance: only distinct data and v_i ≠ 0.

**d0 ≥ 2: elimination modulo a prime** (``min_width_mod_p``). Lemma 4: within the
trial's activation pattern A the rank is, for data from a density, almost surely the
generic rank of A; it is computed, as in ``full_rank``'s exact check, from integer
data x' uniform in [−2^20, 2^20) with A: the columns a_i ∘ (x', 1) of unit after unit
are reduced against a reduced row-echelon basis over Z/p until the rank reaches n.
rank mod p ≤ rank over Q ≤ generic rank, so the w* found is ≥ the true w*; it is
larger only if p divides a minor that matters or the integer data hit the zero set
of one (probability ≤ n/p + n/2^20 per trial; ``p`` ≈ 2^21 keeps every product and
sum exact in float64, so the elimination runs on the matrix units).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

# The largest prime below 2^21: products of residues (< 2^42) summed over ≤ 2^10
# terms stay below 2^53, exact in float64.
PRIME = 2097143
MAX_ROWS_MOD_P = 1 << 10


def rank_1d(cuts, classes, n: int) -> int:
    """rank J for d0 = 1 from the units' cuts and classes (module docstring).

    Args:
      cuts: ``(m,)`` integers in [0, n]: a suffix unit (class 1) is active on the
        points after its first ``cut`` sorted points, a prefix unit (class 0) on its
        first ``cut`` points.
      classes: ``(m,)`` 0 (prefix) or 1 (suffix).
      n: number of (distinct) data points.
    """
    pins: dict[int, set] = {0: {0}, n: {1}}
    for c, k in zip(np.asarray(cuts, int), np.asarray(classes, int), strict=True):
        pins.setdefault(int(c), set()).add(int(k))
    order = sorted(pins)
    lengths = np.diff(order)
    single_changing = sum(
        pins[a] != pins[b] and b - a == 1
        for a, b in zip(order[:-1], order[1:], strict=True)
    )
    both = any(len(k) == 2 for k in pins.values())
    delta = 0 if both else max(0, 2 - single_changing)
    return int(np.minimum(lengths, 2).sum()) - delta


def unit_cuts_1d(w, b, v, xs_sorted, n):
    """Each unit's cut and class on sorted 1-D data, exactly as its float pattern.

    ``xs_sorted: (N,)`` ascending, the first ``n`` real (the rest +inf); ``w, b, v:
    (D,)``. A unit is active on x iff w·x + b > 0 (in floating point: monotone in x,
    so the pattern is a prefix or a suffix). Returns ``(cut, cls, ok)``: ``cls`` 1 for
    w > 0 (active after its first ``cut`` points), 0 for w < 0 (active on its first
    ``cut`` points); a unit with w = 0 or v = 0 (probability 0) is given an all- or
    never-active pattern as it has; ``ok`` says the searched cut was verified against
    the float pattern at its boundary (False would mean a data point within rounding
    of a breakpoint was misplaced; counted by the callers, expected never).
    """
    big_n = xs_sorted.shape[0]
    thr = -b / jnp.where(w == 0, 1.0, w)
    # First index whose point lies strictly right of the breakpoint, then a bounded
    # correction so the cut is the float pattern's, verified at its boundary.
    c = jnp.searchsorted(xs_sorted, thr, side="right").astype(jnp.int32)
    c = jnp.minimum(c, n)

    def pre(idx):
        x = xs_sorted[jnp.clip(idx, 0, big_n - 1)]
        return w * jnp.where(jnp.isfinite(x), x, 0.0) + b

    def inactive_at(idx):  # for w > 0: point idx is left of (or at) the breakpoint
        return jnp.where(w > 0, pre(idx) <= 0, pre(idx) > 0)

    # (rounding can misplace only a point within an ulp of the breakpoint: one step)
    c = jnp.where((c > 0) & ~inactive_at(c - 1), c - 1, c)
    c = jnp.where((c < n) & inactive_at(c), c + 1, c)
    ok = ((c == 0) | inactive_at(c - 1)) & ((c == n) | ~inactive_at(c))
    # w > 0: c points inactive on the left; suffix (class 1) with cut c.
    # w < 0: the first c points are active (pre > 0 iff x < thr); prefix with cut c.
    cls = (w > 0).astype(jnp.int32)
    all_active = b > 0
    c = jnp.where(w == 0, jnp.where(all_active, 0, n), c)
    cls = jnp.where(w == 0, 1, cls)
    # v = 0: no columns; a suffix with cut n pins nothing new.
    c = jnp.where(v == 0, n, c)
    cls = jnp.where(v == 0, 1, cls)
    return c, cls, ok | (w == 0) | (v == 0)


def _arrive(t0, t1, cut, cls, index):
    """First arrival (unit index) of each cut position, per class, after these units."""
    drop = t0.shape[0]
    t0 = t0.at[jnp.where(cls == 0, cut, drop)].min(index, mode="drop")
    t1 = t1.at[jnp.where(cls == 1, cut, drop)].min(index, mode="drop")
    return t0, t1


def _first_full_width(t0, t1, n, inf):
    """The smallest width at which rank J = n, from the arrival times (≥ ``inf``: not
    among the units that arrived). The module docstring's two conditions:"""
    pos = jnp.arange(t0.shape[0])
    first = jnp.minimum(t0, t1)
    # (1) every segment has ≤ 2 points: cut positions c, c+1 (1 ≤ c ≤ n−2) are never
    # both unpinned.
    need_pair = (pos[:-1] >= 1) & (pos[:-1] <= n - 2)
    d_segments = jnp.max(jnp.where(need_pair, jnp.minimum(first[:-1], first[1:]), 0))
    # (2) δ = 0: a pin in both classes, or two class-changing single-point segments
    # (classes as first arrived: until a pin has both, it has one).
    both = jnp.min(jnp.where(pos <= n, jnp.maximum(t0, t1), inf))
    first_cls = t1 < t0
    e = jnp.where(
        (first_cls[:-1] != first_cls[1:]) & (pos[:-1] <= n - 1),
        jnp.maximum(first[:-1], first[1:]),
        inf,
    )
    e2 = jnp.min(jnp.where(pos[:-1] == jnp.argmin(e), inf, e))  # second smallest
    return jnp.minimum(jnp.maximum(d_segments, jnp.minimum(both, e2)), inf)


def _arrivals_init(big_n, n, inf):
    pos = jnp.arange(big_n + 1)
    return (
        jnp.where(pos == 0, 0, inf).astype(jnp.int32),
        jnp.where(pos == n, 0, inf).astype(jnp.int32),
    )


def _sorted_data(x, n):
    return jnp.sort(jnp.where(jnp.arange(x.shape[0]) < n, x, jnp.inf))


def min_width_1d(w, b, v, x, n, d1):
    """w* for d0 = 1 (module docstring), ``D + 1`` if the first ``d1`` units never
    reach rank n. ``x: (N,)`` data (the first ``n`` real), ``w, b, v: (D,)`` (units
    ≥ ``d1`` ignored). Returns ``(w_star, ok)``: ``ok`` as ``unit_cuts_1d``, all units.
    """
    big_d = w.shape[0]
    inf = jnp.int32(big_d + 1)
    xs = _sorted_data(x, n)
    cut, cls, ok = unit_cuts_1d(w, b, v, xs, n)
    index = jnp.arange(1, big_d + 1, dtype=jnp.int32)
    index = jnp.where(index <= d1, index, inf)  # units beyond d1 never arrive
    t0, t1 = _arrive(*_arrivals_init(x.shape[0], n, inf), cut, cls, index)
    unit_ok = jnp.all(ok | (jnp.arange(big_d) >= d1))
    return _first_full_width(t0, t1, n, inf), unit_ok


def min_width_1d_stream(units, x, n, cap, *, block: int, max_units: int):
    """``min_width_1d`` drawing the units ``block`` at a time until w* is known.

    ``units(start) -> (w, b, v)`` gives units [start, start + block) (``(block,)``
    each); at most ``cap`` (≤ ``max_units``, static) are used. After the first s units
    the width from their arrivals is w* if it is ≤ s, so the loop stops there: the
    cost is O(w*) draws, not O(cap). Returns ``(w_star, ok)`` (``cap + 1``: censored).
    """
    inf = jnp.int32(max_units + 1)
    xs = _sorted_data(x, n)

    def cond(state):
        start, _, _, w_star, _ = state
        return (start < cap) & (w_star > start)

    def body(state):
        start, t0, t1, _, ok = state
        w, b, v = units(start)
        cut, cls, ok_blk = unit_cuts_1d(w, b, v, xs, n)
        index = start + 1 + jnp.arange(block, dtype=jnp.int32)
        live = index <= cap
        t0, t1 = _arrive(t0, t1, cut, cls, jnp.where(live, index, inf))
        ok = ok & jnp.all(ok_blk | ~live)
        return start + block, t0, t1, _first_full_width(t0, t1, n, inf), ok

    t0, t1 = _arrivals_init(x.shape[0], n, inf)
    state = (jnp.int32(0), t0, t1, inf, jnp.bool_(True))
    _, _, _, w_star, ok = jax.lax.while_loop(cond, body, state)
    return jnp.where(w_star <= cap, w_star, cap + 1).astype(jnp.int32), ok


def _mod(a):
    return a - PRIME * jnp.floor(a / PRIME)


def _inverse(a):
    """a^(p−2) mod p (float64 residues; squares stay < 2^42)."""
    result = jnp.ones_like(a)
    base = a
    e = PRIME - 2
    while e:
        if e & 1:
            result = _mod(result * base)
        base = _mod(base * base)
        e >>= 1
    return result


def _add_column(carry, u):
    """Reduce column ``u`` (residues) against a reduced row-echelon basis over Z/p and
    add it if independent. ``carry = (basis (N, N), piv (N,), rank)``: row ``k`` of
    the basis has a 1 at column ``piv[k]`` and 0 at every other pivot (−1: unused)."""
    basis, piv, rank = carry
    coef = jnp.where(piv >= 0, u[jnp.maximum(piv, 0)], 0.0)
    u = _mod(u - coef @ basis)
    nz = u != 0
    has = jnp.any(nz)
    j = jnp.argmax(nz).astype(jnp.int32)
    u = _mod(u * _inverse(jnp.where(has, u[j], 1.0)))
    basis = jnp.where(has, _mod(basis - basis[:, j][:, None] * u[None, :]), basis)
    new = has & (jnp.arange(basis.shape[0]) == rank)
    basis = jnp.where(new[:, None], u[None, :], basis)
    piv = jnp.where(new, j, piv)
    return (basis, piv, rank + has.astype(jnp.int32)), None


def _check_rows(big_n):
    if big_n > MAX_ROWS_MOD_P:
        raise ValueError(
            f"n must be <= {MAX_ROWS_MOD_P} for the float64 elimination; got {big_n}"
        )


def _basis_init(big_n):
    return (jnp.zeros((big_n, big_n)), jnp.full(big_n, -1, jnp.int32), jnp.int32(0))


def min_width_mod_p(act, x_aug, n, d1):
    """w* by elimination over Z/p, unit after unit, until rank n (module docstring).

    Args:
      act: ``(N, D)`` 0/1 activation pattern (rows ≥ n zero).
      x_aug: ``(N, K)`` integer-valued data with the appended 1 (columns of padded
        coordinates zero), as float64.
      n: the real number of rows; ``d1``: units ≥ d1 are ignored.

    Returns:
      ``(w_star, rank)``: the first width at which the rank mod p reaches n (``D + 1``
      if never within the first ``d1`` units) and the rank mod p reached.
    """
    big_n, big_d = act.shape
    _check_rows(big_n)
    x_res = _mod(x_aug)

    def cond(state):
        i, (_, _, rank) = state
        return (i < jnp.minimum(d1, big_d)) & (rank < n)

    def body(state):
        i, carry = state
        carry, _ = jax.lax.scan(_add_column, carry, (act[:, i][:, None] * x_res).T)
        return i + 1, carry

    last, (_, _, rank) = jax.lax.while_loop(
        cond, body, (jnp.int32(0), _basis_init(big_n))
    )
    return jnp.where(rank >= n, last, big_d + 1).astype(jnp.int32), rank


def min_width_mod_p_stream(activations, x_aug, n, cap, *, block: int):
    """``min_width_mod_p`` drawing the units ``block`` at a time until rank n.

    ``activations(start) -> (N, block)`` 0/1 pattern of units [start, start + block)
    (rows ≥ n zero); units ≥ ``cap`` are ignored. Returns ``(w_star, rank)``
    (``cap + 1``: censored).
    """
    big_n = x_aug.shape[0]
    _check_rows(big_n)
    x_res = _mod(x_aug)

    def cond(state):
        start, (_, _, rank), _ = state
        return (start < cap) & (rank < n)

    def body(state):
        start, carry, w_star = state
        act = activations(start)

        def unit(carry_w, j):
            carry, w_star = carry_w
            live = (start + j < cap) & (carry[2] < n)
            new, _ = jax.lax.scan(_add_column, carry, (act[:, j][:, None] * x_res).T)
            carry = jax.tree.map(lambda a, b: jnp.where(live, a, b), new, carry)
            w_star = jnp.where(live & (carry[2] >= n), start + j + 1, w_star).astype(
                jnp.int32
            )
            return (carry, w_star), None

        (carry, w_star), _ = jax.lax.scan(unit, (carry, w_star), jnp.arange(block))
        return start + block, carry, w_star

    init = (jnp.int32(0), _basis_init(big_n), jnp.int32(0))
    _, (_, _, rank), w_star = jax.lax.while_loop(cond, body, init)
    return jnp.where(rank >= n, w_star, cap + 1).astype(jnp.int32), rank
