"""P(full rank at width d1 | data) for d0 = 1, without drawing units.

For d0 = 1 the rank of the Jacobian is combinatorial (``jaxnet.rank.min_width``): with
the data sorted, x₁ < … < x_n, unit i has a breakpoint tᵢ = −bᵢ/wᵢ and a class (it is
active right of tᵢ if wᵢ > 0, left of it if wᵢ < 0); its *cut* is the gap c ∈ {0, …, n}
of the sorted data its breakpoint falls in (gap 0 left of x₁, gap n right of x_n).
The network has full rank n iff

- **E1**: no two consecutive interior gaps 1..n−1 hold no breakpoint (every segment
  between consecutive pins holds ≤ 2 points), and
- **δ = 0**: some cut holds units of both classes (a *shared pin*; a class-1 unit in
  gap 0 or a class-0 unit in gap n counts: it is active on every point), or, failing
  that, at least two single-point segments have end pins of different classes.

Given the data, the units are iid: a unit's gap is c with probability
p_c = G(x_{c+1}) − G(x_c) (G the breakpoint law's CDF, x₀ = −∞, x_{n+1} = +∞) and its
class is a fair coin independent of its gap (for both conventions (b, w) ↦ (−b, −w)
keeps t and flips the class). The breakpoint laws, for d0 = 1:

- ``paper``: b, w iid N(0, 1), so t is standard Cauchy: G(t) = 1/2 + arctan(t)/π;
- ``peer``: b, w iid U(−1, 1) (PyTorch's 1/√d0), so t has density 1/4 on [−1, 1] and
  1/(4t²) outside. (The peer Jacobian's v-columns σ(wᵢx + bᵢ) = wᵢ·aᵢ∘x + bᵢ·aᵢ lie in
  the span of the unit's own columns: the rank formula is the same.)

**Poissonized width.** With a Poisson(λ) number of units, the counts of class-k units
in gap c are independent Poisson(λ p_c / 2), and P(full rank | data) is a product of
per-gap transfer matrices over a 14-state chain (``poisson_prob``: E1 needs "was the
previous gap pinned"; δ needs the class of the last pin, whether it is adjacent, the
number (0, 1, ≥ 2) of single-point class-changing segments so far, or that a shared
pin was seen). O(n) per data set and λ, exact.

**A fixed width d1.** F(λ) = Σ_k π_λ(k) P_k with P_k = P(full rank at width k | data)
and π_λ the Poisson(λ) pmf, so P_k is a coefficient of the generating function
E[z^N; full rank] = Σ_k π_λ(k) P_k z^k, which the same chain evaluates at complex z.
``exact_prob`` reads P_k off a K-point FFT on |z| = 1 at λ near k; the aliasing error
is at most P(N ≥ k + K) + P(N ≤ k − K) and the float error ≈ 1e-14 (|values| ≤ 1), both
divided by π_λ(k): a rigorous bound, returned with every value (tests: brute-force
enumeration of unit draws). Its cost is O(n √k) per width. ``depoissonized_prob`` is
the fast path, O(n) per width: the Poisson–Charlier expansion
P_k = Σ_j c_j(k) F⁽ʲ⁾(k)/j!, c_j(k) = k! [t^k] eᵗ (t − k)ʲ (P_k = k! [t^k] eᵗ F(t)
expanded around t = k: c₂ = −k, c₃ = 2k, c₄ = 3k² − 6k, ...), truncated at order 8
(exact when P_k is a polynomial of degree ≤ 8 in k); the Taylor coefficients of F come
from running the chain on truncated power series. Its error is measured against
``exact_prob`` wherever it is used.

The d0 = 1 threshold law that this computes is derived in ``jaxnet.rank.limit_law``.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from jaxnet import checks

CONVENTIONS = ("paper", "peer")
N_STATES = 14  # 12 without a shared pin (prev pinned × last class × ccsp), 2 with one
FLOAT_ERROR = 1e-14  # absolute error of an FFT of K ≤ 2^16 values of modulus ≤ 1


def breakpoint_cdf(t, convention: str):
    """G(t) = P(−b/w ≤ t) for one unit of ``convention`` at d0 = 1 (module docstring)."""
    if convention == "paper":
        return 0.5 + jnp.arctan(t) / jnp.pi
    if convention == "peer":
        inner = 0.5 + t / 4
        return jnp.where(
            t < -1,
            -0.25 / jnp.where(t < -1, t, -1.0),
            jnp.where(t > 1, 1 - 0.25 / jnp.where(t > 1, t, 1.0), inner),
        )
    raise ValueError(f"convention must be one of {CONVENTIONS}; got {convention!r}")


def gap_masses(x_sorted, convention: str):
    """``(..., n + 1)`` masses p_c of the gaps of sorted data ``x_sorted: (..., n)``."""
    g = breakpoint_cdf(jnp.asarray(x_sorted), convention)
    zeros = jnp.zeros(g.shape[:-1] + (1,), g.dtype)
    return jnp.diff(jnp.concatenate([zeros, g, zeros + 1], axis=-1), axis=-1)


def _shift(v):
    """ccsp + 1, capped at 2, along the leading ccsp axis of ``v: (3, S, M)``."""
    return jnp.stack([jnp.zeros_like(v[0]), v[0], v[1] + v[2]])


def _chain(weights, n: int, mul):
    """The accept weight ``(S, M)`` of the 14-state chain over gaps 0..n.

    ``weights(c) -> (none, some)``, each ``(S, M)``: the weights of "no unit" and "at
    least one unit" of one class in gap c (S = 1 for plain numbers, the Taylor order
    + 1 for truncated series; M the flattened batch of data sets and Poisson means,
    last so that the chain vectorizes over it); ``mul`` multiplies two such values.
    States: ``ns[pp, lc, k]`` without a shared pin (previous gap pinned, class of the
    last pin, single-point class-changing segments so far, capped at 2), ``sh[pp]``
    once a shared pin was seen.
    """
    # gap 0: class-0 units there change nothing; a class-1 unit is a shared pin
    n0, s0 = weights(0)
    all0 = n0 + s0
    base = mul(all0, n0)
    ns = jnp.zeros((2, 2, 3) + base.shape, base.dtype).at[1, 0, 0].set(base)
    sh = jnp.zeros((2,) + base.shape, base.dtype).at[1].set(mul(all0, s0))

    def step(carry, c):
        ns, sh = carry
        none, some = weights(c)
        e, a, ab = mul(none, none), mul(some, none), mul(some, some)
        total = ns.sum(axis=(0, 1, 2))
        to0 = ns[0, 0] + ns[1, 0] + ns[0, 1] + _shift(ns[1, 1])
        to1 = ns[0, 1] + ns[1, 1] + ns[0, 0] + _shift(ns[1, 0])
        unpinned = mul(e, ns[1])  # (2, 3, S, M): the gap stays empty
        pinned = jnp.stack([mul(a, to0), mul(a, to1)])  # a class-0 / class-1 pin
        new_sh = jnp.stack(
            [mul(e, sh[1]), mul(2 * a + ab, sh[0] + sh[1]) + mul(ab, total)]
        )
        return (jnp.stack([unpinned, pinned]), new_sh), None

    (ns, sh), _ = jax.lax.scan(step, (ns, sh), jnp.arange(1, n))
    # gap n: a class-0 unit there is a shared pin; without one, pin n has class 1
    nn, sn = weights(n)
    alln = nn + sn
    closing = ns[0, 1, 2] + ns[1, 1, 2] + ns[0, 0, 2] + ns[1, 0, 1] + ns[1, 0, 2]
    return (
        mul(mul(nn, alln), closing)
        + mul(mul(sn, alln), ns.sum(axis=(0, 1, 2)))
        + mul(mul(alln, alln), sh.sum(axis=0))
    )


def _lift(a, ndim: int):
    """``a`` with leading axes added up to ``ndim`` (explicit rank promotion)."""
    return a.reshape((1,) * (ndim - a.ndim) + a.shape)


def _plain(x, y):
    nd = max(x.ndim, y.ndim)
    return _lift(x, nd) * _lift(y, nd)


def poisson_chain(p, lam):
    """F(λ) for gap masses ``p: (B, n + 1)`` and Poisson means ``lam: (L,)``:
    ``(B, L)``; traceable (a device trial calls it on one data set, B = 1). Memory
    O(B·L) besides ``p``: each gap's means are formed as the chain reaches it."""
    b, n1 = p.shape
    pt = p.T[:, :, None]  # (n + 1, B, 1)

    def weights(c):
        m = (pt[c] * lam[None, :] / 2).reshape(1, -1)
        return jnp.exp(-m), -jnp.expm1(-m)

    return _chain(weights, n1 - 1, _plain)[0].reshape(b, lam.size)


_poisson = jax.jit(poisson_chain)


def _check_sorted(x_sorted) -> np.ndarray:
    x = np.asarray(x_sorted, np.float64)
    if x.ndim != 2 or x.shape[1] < 1:
        raise ValueError(
            f"x_sorted must be a (data sets, n) array; got shape {x.shape}"
        )
    checks.finite("x_sorted", x)
    if np.any(np.diff(x, axis=1) <= 0):
        raise ValueError("x_sorted must be strictly increasing along each row")
    return x


def _check_convention(convention):
    if convention not in CONVENTIONS:
        raise ValueError(f"convention must be one of {CONVENTIONS}; got {convention!r}")


def poisson_prob(x_sorted, lam, convention: str = "paper") -> np.ndarray:
    """F(λ) = P(full rank | data) with a Poisson(λ) number of units (module docstring):
    ``(data sets, len(lam))`` for ``x_sorted: (data sets, n)`` (strictly increasing
    rows) and ``lam: (L,)`` positive."""
    _check_convention(convention)
    x = _check_sorted(x_sorted)
    lam = np.atleast_1d(np.asarray(lam, np.float64))
    if lam.ndim != 1 or np.any(~np.isfinite(lam)) or np.any(lam <= 0):
        raise ValueError("lam must be positive finite Poisson means")
    p = gap_masses(jnp.asarray(x), convention)
    return np.asarray(_poisson(p, jnp.asarray(lam)))


def _series_mul(order):
    """The product of truncated Taylor series (leading axis: coefficients 0..order,
    after any state axes: ``(..., J, M)``)."""

    def mul(x, y):
        nd = max(x.ndim, y.ndim)
        x, y = _lift(x, nd), _lift(y, nd)
        return jnp.stack(
            [
                sum(x[..., i, :] * y[..., k - i, :] for i in range(k + 1))
                for k in range(order + 1)
            ],
            axis=-2,
        )

    return mul


ORDER = 8  # the Poisson-Charlier expansion's order (exact for P_k of degree <= 8 in k)


@jax.jit
def _poisson_series(p, lam):
    """Taylor coefficients F^{(j)}(λ)/j!, j = 0..ORDER, of F at each λ: ``(B, L, J)``."""
    b, n1 = p.shape
    pm = jnp.broadcast_to(p[:, None, :], (b, lam.size, n1)).reshape(-1, n1).T
    mu = (p[:, None, :] * lam[None, :, None] / 2).reshape(-1, n1).T
    js = jnp.arange(ORDER + 1)[:, None]
    fact = jnp.asarray([math.factorial(j) for j in range(ORDER + 1)], jnp.float64)

    def weights(c):
        # the series of exp(-p (λ + h) / 2) in h
        none = jnp.exp(-mu[c])[None] * (-pm[c] / 2)[None] ** js / fact[:, None]
        return none, (-none).at[0].add(1.0)

    out = _chain(weights, n1 - 1, _series_mul(ORDER))  # (J, B·L)
    return out.T.reshape(b, lam.size, ORDER + 1)


def charlier(k: int, order: int = ORDER) -> np.ndarray:
    """c_j(k) = k! [t^k] e^t (t - k)^j, j = 0..order (exact integers, as floats): then
    P_k = sum_j c_j(k) F^{(j)}(k)/j! whenever P_k is a polynomial of degree <= order."""
    out = []
    for j in range(order + 1):
        total, falling = 0, 1
        for i in range(j + 1):
            total += math.comb(j, i) * (-k) ** (j - i) * falling
            falling *= k - i
        out.append(float(total))
    return np.array(out)


def depoissonized_prob(x_sorted, widths, convention: str = "paper") -> np.ndarray:
    """P(full rank at each width | data), fast: the Poisson-Charlier expansion of
    ``poisson_prob`` at lam = width, to order ``ORDER`` (module docstring), ``(B, W)``.
    Not a bound: its error is measured against ``exact_prob`` where it is used."""
    _check_convention(convention)
    x = _check_sorted(x_sorted)
    k = _check_widths(widths)
    p = gap_masses(jnp.asarray(x), convention)
    a = np.asarray(_poisson_series(p, jnp.asarray(k, jnp.float64)))
    c = np.stack([charlier(int(kk)) for kk in k])  # (W, J)
    return np.clip((a * c[None]).sum(-1), 0.0, 1.0)


def _check_widths(widths) -> np.ndarray:
    k = np.atleast_1d(np.asarray(widths))
    if (
        k.ndim != 1
        or k.size == 0
        or not np.issubdtype(k.dtype, np.integer)
        or np.any(k < 1)
    ):
        raise ValueError(f"widths must be positive integers; got {widths!r}")
    return k.astype(np.int64)


def _generating(p, lam, z):
    """E[z^N; full rank] at Poisson mean ``lam`` for complex ``z: (K,)``: ``(B, K)``."""
    b, n1 = p.shape
    mu = jnp.repeat(p * lam / 2, z.size, axis=0).T  # (n + 1, B·K)
    zz = jnp.tile(z, b)

    def weights(c):
        none = jnp.exp(-mu[c]) + 0j
        return none[None], (jnp.exp(mu[c] * (zz - 1)) - none)[None]

    return _chain(weights, n1 - 1, _plain)[0].reshape(b, z.size)


_generating_jit = jax.jit(_generating)


def _window(k: int) -> tuple[float, int]:
    """Poisson mean and FFT size for width ``k``: λ = k, K ≥ 2·(8√k + 16)."""
    span = 8 * math.sqrt(k) + 16
    return float(k), 1 << max(5, math.ceil(math.log2(2 * span)))


def exact_prob(x_sorted, widths, convention: str = "paper"):
    """P(full rank at each width | data), exactly up to a rigorous bound (module
    docstring): ``(prob (B, W), bound (W,))``; ``bound`` is the largest possible error
    of any entry of that column (aliasing + float error over π_λ(k))."""
    from scipy import stats as st

    _check_convention(convention)
    x = _check_sorted(x_sorted)
    ks = _check_widths(widths)
    p = gap_masses(jnp.asarray(x), convention)
    out = np.zeros((x.shape[0], len(ks)))
    bound = np.zeros(len(ks))
    for i, k in enumerate(ks):
        lam, size = _window(int(k))
        z = jnp.exp(2j * jnp.pi * jnp.arange(size) / size)
        g = np.asarray(_generating_jit(p, jnp.float64(lam), z))
        coef = np.fft.fft(g, axis=-1).real / size  # c_j = Σ_l g_l z_l^{-j} / K
        pk = st.poisson.pmf(k, lam)
        alias = st.poisson.sf(k + size - 1, lam) + (
            st.poisson.cdf(k - size, lam) if k >= size else 0.0
        )
        out[:, i] = coef[:, k % size] / pk
        bound[i] = (alias + FLOAT_ERROR) / pk
    return np.clip(out, 0.0, 1.0), bound


def brute_force_prob(x_sorted, width: int, convention: str = "paper") -> np.ndarray:
    """P(full rank at ``width`` | data) by enumerating every assignment of the units to
    (gap, class): ``(2(n + 1))^width`` configurations, each decided by
    ``min_width.rank_1d`` (tests only: tiny n and width)."""
    import itertools

    from jaxnet.rank import min_width

    x = _check_sorted(x_sorted)
    n = x.shape[1]
    p = np.asarray(gap_masses(jnp.asarray(x), convention))
    out = np.zeros(x.shape[0])
    cells = [(c, k) for c in range(n + 1) for k in (0, 1)]
    for config in itertools.product(range(len(cells)), repeat=width):
        cuts = [cells[i][0] for i in config]
        classes = [cells[i][1] for i in config]
        if min_width.rank_1d(cuts, classes, n) == n:
            out += np.prod([p[:, c] / 2 for c in cuts], axis=0)
    return out


STENCIL = np.arange(
    -4, 5
)  # the Poisson means around a width that ``from_stencil`` reads


def stencil_means(widths) -> np.ndarray:
    """The Poisson means ``width + STENCIL`` for every width, flattened: run
    ``poisson_chain`` at them and hand the result to ``from_stencil``."""
    return (np.asarray(widths)[:, None] + STENCIL[None, :]).astype(np.float64).ravel()


def from_stencil(f_stencil, widths) -> np.ndarray:
    """P(full rank at each width | data) from F at ``width + STENCIL``
    (``f_stencil: (..., W, 9)``): the Taylor coefficients of F at each width from its
    interpolating polynomial of degree 8, then the order-8 Poisson–Charlier sum
    (``depoissonized_prob`` with the derivatives read off F's values; linear, so it
    can be applied to data-set averages)."""
    v = np.array([[float(h) ** j for j in range(ORDER + 1)] for h in STENCIL])
    a = np.einsum("jh,...wh->...wj", np.linalg.inv(v), np.asarray(f_stencil))
    c = np.stack([charlier(int(k)) for k in widths])  # (W, 9)
    return np.clip((a * c).sum(-1), 0.0, 1.0)
