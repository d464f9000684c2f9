"""The d0 = 1 threshold law, derived: w*/n^{3/2} → Fréchet(2), and its constant.

**Statement.** Let the n data points be iid with density f and the units' breakpoints
t = −b/w iid with density g (``jaxnet.rank.conditional``: Cauchy for the ``paper``
convention, the ratio of two U(−1, 1) for ``peer``), with

    K = ∫ f(x)³ / g(x)² dx < ∞.

Then the minimal full-rank width w* (exact rank, ``jaxnet.rank.min_width``) satisfies

    P(w* ≤ t·n^{3/2}) → exp(−K/t²)         (a Fréchet law of index 2, scale √K),

and, to the next order,

    P(w* ≤ t·n^{3/2}) = exp(−K/t² + 3K₂/(t³√n) + O(1/n)),   K₂ = ∫ f⁴/g³ dx.

So the median of w*/n^{3/2} is t∞(1 − 3K₂/(2K t∞ √n) + O(1/n)), t∞ = √(K/ln 2): the
effective exponent of the median is 3/2 + 3K₂/(4K t∞ √n) + O(1/n), approaching 3/2 from
above, which is the 1.56 that jaxnet measured for n = 50..1000.

**The constants.** ``paper``: f = φ (standard normal), g(x) = 1/(π(1 + x²)):

    K = π² (2π)^{−3/2} ∫ e^{−3x²/2} (1 + x²)² dx = π/√3 ≈ 1.8138,
    K₂ = (π/4) √(π/2) · 163/64 ≈ 2.5071;

the median of w*/n^{3/2} tends to √(K/ln 2) ≈ 1.618 and the 90% quantile is
√(ln 2/ln(1/0.9)) ≈ 2.565 times the median (the heavy upper tail). ``peer``: f = 1 on
[0, 1] and g = 1/4 there, so K = 16 and K₂ = 64 (median → 4.80·n^{3/2}).

**Derivation.** Full rank needs (i) a breakpoint strictly inside every window
(x_j, x_{j+2}) of three consecutive sorted points and (ii) δ = 0
(``jaxnet.rank.conditional``). Poissonize both: data a Poisson process of intensity
n·f, breakpoints one of intensity λ·g, λ = t n^{3/2}. Merged, the labels (data point or
breakpoint) along the line are independent, a point near x being data with probability
π(x) = 1/(1 + a(x)), a = λg/(nf) = t√n·g/f. (i) fails iff three consecutive labels are
data, a *bad run*. Bad runs start at a data point preceded by a breakpoint and followed
by two data points, so their expected number is

    μ_n(t) = ∫ n f (1 − π) π² dx = ∫ n f [(1 + a)^{−2} − (1 + a)^{−3}] dx,

and since π → 0 (a ~ √n) they are rare and only locally dependent: their number is
asymptotically Poisson, P((i)) ≈ exp(−μ_n(t)). Expanding in 1/a,
n f (1 + a)^{−2} = f³/(t² g²) − 2 f⁴/(t³ √n g³) + …, and the (1 + a)^{−3} term gives
−f⁴/(t³ √n g³): μ_n(t) = K/t² − 3K₂/(t³√n) + O(1/n). The conditions:

- *The δ term.* (ii) fails only if no cut is shared, in particular no unit is active
  on every point: probability ≤ (1 − (G(x₁) + 1 − G(x_n))/2)^{w} with w ~ n^{3/2}
  units and G(x₁) + 1 − G(x_n) ≥ c/√(log n) for Gaussian data (≥ 3/4 for peer), so
  it vanishes faster than any power of n.
- *Overlapping windows.* Consecutive windows share a gap; the clumping is exactly what
  the run count handles (a clump of k bad windows is one run), and it contributes the
  third K₂ (the −(1 + a)^{−3} term) at order n^{−1/2}: it is not negligible at that
  order, only at the leading one.
- *The tails of the data.* The integrand f³/g² must be integrable: true for Gaussian
  data and Cauchy breakpoints (e^{−3x²/2} x⁴), and on [0, 1] for peer. Where f is
  small, a is large and windows are safe; the extreme order statistics contribute
  O(1/n).
- *De-Poissonization.* A Poisson(n) number of data points or of units, instead of
  exactly n or w, changes the law at order 1/n and n^{−3/2} (the scale n^{3/2} moves
  by a relative O(n^{−1/2}) fluctuation whose first-order effect averages out).

``law_cdf(t, n)`` evaluates exp(−μ_n(t)) by quadrature (all orders in 1/a, the
"finite-n law"), ``expansion_cdf`` the two-term expansion, ``frechet_cdf`` the limit.
"""

from __future__ import annotations

import math

import numpy as np

from jaxnet import checks

CONVENTIONS = ("paper", "peer")


def _densities(convention: str):
    """``(f, g, support)``: data density, breakpoint density, integration range."""
    if convention == "paper":
        return (
            lambda x: np.exp(-(x**2) / 2) / math.sqrt(2 * math.pi),
            lambda x: 1 / (math.pi * (1 + x**2)),
            (-math.inf, math.inf),
        )
    if convention == "peer":
        return (lambda x: np.ones_like(x), lambda x: np.full_like(x, 0.25), (0.0, 1.0))
    raise ValueError(f"convention must be one of {CONVENTIONS}; got {convention!r}")


def constant(convention: str = "paper", order: int = 0) -> float:
    """K (order 0) or K₂ (order 1) in closed form (module docstring)."""
    _densities(convention)  # validates
    if order not in (0, 1):
        raise ValueError(f"order must be 0 (K) or 1 (K₂); got {order!r}")
    if convention == "paper":
        if order == 0:
            return math.pi / math.sqrt(3)
        return math.pi / 4 * math.sqrt(math.pi / 2) * 163 / 64
    return 16.0 if order == 0 else 64.0


def constant_quadrature(convention: str = "paper", order: int = 0) -> float:
    """∫ f^{order+3}/g^{order+2} dx by adaptive quadrature (the check of ``constant``)."""
    from scipy import integrate

    f, g, (lo, hi) = _densities(convention)
    value, _ = integrate.quad(
        lambda x: f(np.float64(x)) ** (order + 3) / g(np.float64(x)) ** (order + 2),
        lo,
        hi,
        epsabs=0,
        epsrel=1e-12,
        limit=200,
    )
    return float(value)


def frechet_cdf(t, convention: str = "paper"):
    """The limit law: exp(−K/t²) at t = w/n^{3/2} > 0."""
    t = np.asarray(t, np.float64)
    return np.exp(-constant(convention) / t**2)


def frechet_quantile(q, convention: str = "paper"):
    """The limit law's q-quantile √(K / ln(1/q))."""
    q = np.asarray(q, np.float64)
    if np.any((q <= 0) | (q >= 1)):
        raise ValueError("q must lie in (0, 1)")
    return np.sqrt(constant(convention) / -np.log(q))


def expansion_cdf(t, n, convention: str = "paper"):
    """exp(−K/t² + 3K₂/(t³√n)): the limit with its leading finite-n correction."""
    t = np.asarray(t, np.float64)
    k, k2 = constant(convention), constant(convention, 1)
    return np.exp(np.minimum(-k / t**2 + 3 * k2 / (t**3 * np.sqrt(n)), 0.0))


def law_cdf(t, n: int, convention: str = "paper"):
    """exp(−μ_n(t)), μ_n(t) = ∫ n f [(1 + a)^{−2} − (1 + a)^{−3}] dx, a = t√n g/f
    (module docstring): the finite-n law to all orders in 1/a."""
    from scipy import integrate

    checks.positive_int("n", n)
    f, g, (lo, hi) = _densities(convention)

    def mu(tt):
        def integrand(x):
            x = np.float64(x)
            fx = f(x)
            if fx < 1e-300:  # far in the data's tail: no data, no bad run
                return 0.0
            pi = 1 / (1 + tt * math.sqrt(n) * g(x) / fx)
            return n * fx * (pi**2 - pi**3)

        return integrate.quad(integrand, lo, hi, epsabs=0, epsrel=1e-10, limit=200)[0]

    shape = np.shape(t)
    t = np.atleast_1d(np.asarray(t, np.float64))
    return np.exp(-np.array([mu(tt) for tt in t.ravel()])).reshape(shape)


def quantile(cdf, q: float, lo: float = 1e-3, hi: float = 1e3) -> float:
    """The q-quantile of a continuous increasing ``cdf`` on (lo, hi) by bisection in
    log t (60 halvings: relative precision ~1e-17 of the bracket)."""
    a, b = math.log(lo), math.log(hi)
    for _ in range(60):
        mid = (a + b) / 2
        if float(cdf(math.exp(mid))) < q:
            a = mid
        else:
            b = mid
    return math.exp((a + b) / 2)
