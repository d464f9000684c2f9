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
    single_changing = sum(pins[a] != pins[b] and b - a == 1
                          for a, b in zip(order[:-1], order[1:], strict=True))
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

    for _ in range(2):
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


def min_width_1d(w, b, v, x, n, d1):
    """w* for d0 = 1 (module docstring), ``D + 1`` if the first ``d1`` units never
    reach rank n. ``x: (N,)`` data (the first ``n`` real), ``w, b, v: (D,)`` (units
    ≥ ``d1`` ignored). Returns ``(w_star, ok)``: ``ok`` as ``unit_cuts_1d``, all units.
    """
    big_n, big_d = x.shape[0], w.shape[0]
    inf = jnp.int32(big_d + 1)
    xs = jnp.sort(jnp.where(jnp.arange(big_n) < n, x, jnp.inf))
    cut, cls, ok = unit_cuts_1d(w, b, v, xs, n)
    index = jnp.arange(1, big_d + 1, dtype=jnp.int32)
    index = jnp.where(index <= d1, index, inf)  # units beyond d1 never arrive
    pos = jnp.arange(big_n + 1)
    t0 = jnp.full(big_n + 1, inf).at[jnp.where(cls == 0, cut, big_n + 1)].min(
        index, mode="drop")
    t1 = jnp.full(big_n + 1, inf).at[jnp.where(cls == 1, cut, big_n + 1)].min(
        index, mode="drop")
    t0 = t0.at[0].set(0)
    t1 = jnp.where(pos == n, 0, t1)
    first = jnp.minimum(t0, t1)
    # (1) no segment of 3 or more points: cut positions c, c+1 (1 ≤ c ≤ n−2) are not
    # both unpinned.
    pair = jnp.minimum(first[:-1], first[1:])  # (N,): positions c, c+1
    need_pair = (pos[:-1] >= 1) & (pos[:-1] <= n - 2)
    d_segments = jnp.max(jnp.where(need_pair, pair, 0))
    # (2) δ = 0: a pin in both classes, or two class-changing single-point segments
    # (classes taken as first arrived: before a pin has both, it has one).
    real_pin = pos <= n
    both = jnp.min(jnp.where(real_pin, jnp.maximum(t0, t1), inf))
    first_cls = (t1 < t0).astype(jnp.int32)
    changing = first_cls[:-1] != first_cls[1:]
    e = jnp.where(changing & (pos[:-1] <= n - 1), jnp.maximum(first[:-1], first[1:]),
                  inf)
    e2 = jnp.sort(e)[1] if big_n >= 2 else inf
    w_star = jnp.maximum(d_segments, jnp.minimum(both, e2))
    unit_ok = jnp.all(ok | (jnp.arange(big_d) >= d1))
    return jnp.minimum(w_star, inf), unit_ok


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
    if big_n > MAX_ROWS_MOD_P:
        raise ValueError(f"n must be <= {MAX_ROWS_MOD_P} for the float64 elimination; "
                         f"got {big_n}")
    x_res = _mod(x_aug)
    slots = jnp.arange(big_n)

    # A reduced row-echelon basis of the column space so far: row ``k`` of ``basis``
    # has a 1 at column ``piv[k]`` and 0 at every other pivot (``piv`` −1: unused).
    def add_column(carry, u):
        basis, piv, rank = carry
        coef = jnp.where(piv >= 0, u[jnp.maximum(piv, 0)], 0.0)
        u = _mod(u - coef @ basis)
        nz = u != 0
        has = jnp.any(nz)
        j = jnp.argmax(nz).astype(jnp.int32)
        u = _mod(u * _inverse(jnp.where(has, u[j], 1.0)))
        basis = jnp.where(has, _mod(basis - basis[:, j][:, None] * u[None, :]), basis)
        new = has & (slots == rank)
        basis = jnp.where(new[:, None], u[None, :], basis)
        piv = jnp.where(new, j, piv)
        return (basis, piv, rank + has.astype(jnp.int32)), None

    def cond(state):
        i, (_, _, rank), _ = state
        return (i < jnp.minimum(d1, big_d)) & (rank < n)

    def body(state):
        i, carry, _ = state
        cols = act[:, i][:, None] * x_res  # unit i's columns a_i ∘ (x', 1)
        carry, _ = jax.lax.scan(add_column, carry, cols.T)
        return i + 1, carry, i + 1

    init = (jnp.int32(0), (jnp.zeros((big_n, big_n)), jnp.full(big_n, -1, jnp.int32),
                           jnp.int32(0)), jnp.int32(0))
    _, (_, _, rank), last = jax.lax.while_loop(cond, body, init)
    w_star = jnp.where(rank >= n, last, big_d + 1)
    return w_star.astype(jnp.int32), rank
