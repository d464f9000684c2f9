"""Training the report's student with optax: SGD on the L2-regularized empirical risk.

Objective (stated once; every script and metric uses it):

    J_λ(θ) = R(θ) + (λ/2)‖θ‖²,   R(θ) = (1/2N) Σ_i (f(x_i; θ) − y_i)²,
    ‖θ‖² = Σ_j a_j² + ‖b_j‖²  (the report's ‖θ‖₂, squared),

for the bias-free student f(x; θ) = Σ_j a_j σ(⟨b_j, x⟩) (params ``{'w', 'v'}``).
As λ → 0 the minimizers of J_λ approach the minimum-norm interpolant (when one exists).

``train`` is a pure function of (init key, data, hyperparameters): a ``lax.scan`` of
optimizer steps, logging every ``log_every`` steps, so ``jax.vmap`` over seeds and over
a grid of (λ, learning rate) trains a whole batch of runs in one compiled program
(``train_batch``). λ may follow a geometric *continuation*: ``stages`` equal phases
from ``lam`` down to ``lam_final``.

``until_stationary`` runs an optimizer on the full-batch J_λ until a stated stopping
rule holds (``Stop``), so an experiment reports stationary points, not step counts.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxnet import checks, nets, prng
from jaxnet.types import Array, Params


class TrainConfig(NamedTuple):
    """Static settings (shapes and loop lengths; hashable)."""

    width: int = 100
    steps: int = 20000
    batch: int = 0  # minibatch size; 0 = full batch (gradient descent)
    log_every: int = 500
    stages: int = 1  # λ continuation: geometric phases from lam to lam_final
    init_scale: float = 0.1
    momentum: float = 0.0


class Trace(NamedTuple):
    loss: Array  # R(θ) (full batch) at each log point
    sq_norm: Array  # ‖θ‖²
    grad_norm: Array  # ‖∇J_λ(θ)‖ (full batch, at the λ of that step)
    lam: Array  # λ in force


def risk(params: Params, x: Array, y: Array) -> Array:
    """R(θ) = (1/2N) Σ (f(x_i) − y_i)²."""
    return 0.5 * jnp.mean((nets.apply_batch(params, x) - y) ** 2)


def sq_norm(params: Params) -> Array:
    return sum(jnp.sum(p**2) for p in jax.tree.leaves(params))


def objective(params: Params, x: Array, y: Array, lam) -> Array:
    """J_λ(θ) = R(θ) + (λ/2)‖θ‖²."""
    return risk(params, x, y) + 0.5 * lam * sq_norm(params)


def init_student(key, width: int, d: int, scale: float) -> Params:
    """a_j, b_jk iid N(0, scale²)."""
    bits = prng.stream_bits(key, {"w": (width, d), "v": (1, width)})
    dtype = jnp.result_type(float)
    return {
        "w": scale * prng.normal(bits["w"], dtype),
        "v": scale * prng.normal(bits["v"], dtype)[0],
    }


def lam_at(step, lam, lam_final, cfg: TrainConfig):
    """λ of ``step`` under the geometric continuation (constant if ``stages == 1``)."""
    if cfg.stages == 1:
        return lam
    stage = jnp.minimum(step // (cfg.steps // cfg.stages), cfg.stages - 1)
    return lam * (lam_final / lam) ** (stage / (cfg.stages - 1))


def check_train_args(x, y, cfg: TrainConfig) -> None:
    """Shapes of ``x (N, d)`` and ``y (N,)``, finite data, and a usable ``cfg``."""
    if jnp.ndim(x) != 2:
        raise ValueError(f"x must be (N, d); got shape {jnp.shape(x)}")
    if jnp.shape(y) != (jnp.shape(x)[0],):
        raise ValueError(
            f"y must be (N,) = ({jnp.shape(x)[0]},); got shape {jnp.shape(y)}"
        )
    checks.finite("x", x)
    checks.finite("y", y)
    for name in ("width", "steps", "log_every", "stages"):
        checks.positive_int(f"cfg.{name}", getattr(cfg, name))
    checks.positive_int("cfg.batch", cfg.batch, minimum=0)
    checks.real("cfg.init_scale", cfg.init_scale, low=0.0, low_open=True)
    checks.real("cfg.momentum", cfg.momentum, low=0.0, high=1.0, high_open=True)
    if cfg.steps % cfg.log_every or (cfg.stages > 1 and cfg.steps % cfg.stages):
        raise ValueError(
            "cfg.steps must be a multiple of cfg.log_every and of cfg.stages"
        )


def train(key, x: Array, y: Array, lr, lam, lam_final, cfg: TrainConfig):
    """Train one student; returns ``(params, Trace)`` with ``steps // log_every`` logs.

    Args:
      key: the run's key (initialization and minibatches).
      x, y: ``(N, d)`` inputs, ``(N,)`` targets.
      lr, lam, lam_final: learning rate, λ, final λ of the continuation (may be traced).
      cfg: static ``TrainConfig``.
    """
    check_train_args(x, y, cfg)
    k_init, k_batch = jax.random.split(key)
    params = init_student(k_init, cfg.width, x.shape[1], cfg.init_scale)
    opt = optax.sgd(lr, momentum=cfg.momentum or None)
    state = opt.init(params)
    n = x.shape[0]
    grad = jax.grad(objective)

    def step(carry, t):
        params, state = carry
        lam_t = lam_at(t, lam, lam_final, cfg)
        if cfg.batch:
            idx = jax.random.randint(jax.random.fold_in(k_batch, t), (cfg.batch,), 0, n)
            g = grad(params, x[idx], y[idx], lam_t)
        else:
            g = grad(params, x, y, lam_t)
        updates, state = opt.update(g, state, params)
        return (optax.apply_updates(params, updates), state), None

    def log_block(carry, block):
        ts = block * cfg.log_every + jnp.arange(cfg.log_every)
        carry, _ = jax.lax.scan(step, carry, ts)
        params = carry[0]
        lam_t = lam_at(ts[-1], lam, lam_final, cfg)
        gn = optax.tree.norm(grad(params, x, y, lam_t))
        return carry, Trace(risk(params, x, y), sq_norm(params), gn, lam_t)

    (params, _), trace = jax.lax.scan(
        log_block, (params, state), jnp.arange(cfg.steps // cfg.log_every)
    )
    return params, trace


def train_batch(keys, x, y, lr, lam, lam_final, cfg: TrainConfig):
    """``train`` vmapped over runs: every argument but ``cfg`` has a leading run axis
    (``x: (R, N, d)``, ``y: (R, N)``, ``lr, lam, lam_final: (R,)``)."""
    return jax.vmap(lambda k, xx, yy, a, b, c: train(k, xx, yy, a, b, c, cfg))(
        keys, x, y, lr, lam, lam_final
    )


# ---------------------------------------------------------------------------
# Training to stationarity.

METHODS = ("lbfgs", "gd", "momentum")


class Stop(NamedTuple):
    """The stopping rule of ``until_stationary``, checked every ``every`` steps.

    A run stops (``converged``) when both hold at a check:

    - ‖∇J_λ(θ)‖ ≤ ``grad_rtol`` · λ‖θ‖ (at a stationary point ∇R = −λθ: the rule asks
      the gradient to be a small fraction of either of the two balancing forces);
    - |A − A_prev| ≤ ``angle_rtol`` · A + ``angle_atol``, with A the mass-weighted
      angle to the teacher directions (``condensation.mass_weighted_angle``) at this
      check and A_prev at the previous one.

    A block of ``every`` steps that lowers J_λ by less than ``stall_rtol``·J_λ (or makes
    it non-finite) is undone and ends the run as ``stalled``: an optimizer at a
    nonsmooth point (a ReLU boundary through a data point, where the gradient jumps)
    or after a failed line search makes no further progress. A run that meets neither
    by ``max_steps`` ends with ``converged = False`` too.
    """

    grad_rtol: float = 1e-6
    angle_rtol: float = 1e-3
    angle_atol: float = 1e-9
    stall_rtol: float = 1e-14
    every: int = 500
    max_steps: int = 40000


class Stationarity(NamedTuple):
    converged: Array  # bool: the stopping rule held
    stalled: Array  # bool: a block did not lower J_λ (undone; the run ended there)
    steps: Array  # steps taken (a multiple of Stop.every)
    grad_rel: Array  # ‖∇J_λ‖ / (λ‖θ‖) at the end
    angle: Array  # mass-weighted angle at the end (rad)


def relative_gradient(params: Params, x: Array, y: Array, lam) -> Array:
    """‖∇J_λ(θ)‖ / (λ‖θ‖), the stationarity measure of ``Stop``."""
    g = optax.tree.norm(jax.grad(objective)(params, x, y, lam))
    return g / jnp.maximum(lam * optax.tree.norm(params), jnp.finfo(g.dtype).tiny)


class LbfgsState(NamedTuple):
    x: Array  # (P,) the iterate, flattened
    value: Array  # J at x
    grad: Array  # (P,) ∇J at x
    s: Array  # (m, P) the last m steps, newest first
    y: Array  # (m, P) the last m gradient changes
    rho: Array  # (m,) 1/⟨s, y⟩, 0 for an empty slot
    k: Array  # memory updates so far


LBFGS_MEMORY = 10
# Step sizes tried at once by the line search (1 first: L-BFGS's natural step).
_STEPS = 4.0 ** -np.arange(6)


def _lbfgs_init(value_and_grad, x) -> LbfgsState:
    v, g = value_and_grad(x)
    m, n = LBFGS_MEMORY, x.shape[0]
    z = jnp.zeros((m, n), x.dtype)
    return LbfgsState(x, v, g, z, z, jnp.zeros((m,), x.dtype), jnp.zeros((), jnp.int32))


def objective_along(
    params: Params, direction: Params, x: Array, y: Array, lam, steps: Array
) -> Array:
    """J_λ(θ + t·d) for every t in ``steps`` at once, for the bias-free two-layer
    student: the preactivations are X(B + tD)ᵀ = XBᵀ + t·XDᵀ (two matmuls for all t)
    and ‖θ + t·d‖² = ‖θ‖² + 2t⟨θ, d⟩ + t²‖d‖²."""
    p0 = x @ params["w"].T  # (N, m)
    p1 = x @ direction["w"].T
    pre = p0[None] + steps[:, None, None] * p1[None]  # (T, N, m)
    v = params["v"][None] + steps[:, None] * direction["v"][None]  # (T, m)
    f = jnp.einsum("tnm,tm->tn", jnp.maximum(pre, 0.0), v)
    risk_t = 0.5 * jnp.mean((f - y[None]) ** 2, axis=1)

    def dot(a, b):
        return sum(
            jnp.sum(u * w)
            for u, w in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True)
        )

    sq = (
        dot(params, params)
        + 2 * steps * dot(params, direction)
        + steps**2 * dot(direction, direction)
    )
    return risk_t + 0.5 * lam * sq


def _lbfgs_step(value_and_grad, value_along, st: LbfgsState) -> LbfgsState:
    """One L-BFGS step with a fixed-shape line search (jit- and vmap-friendly).

    The direction is the two-loop recursion over the last ``LBFGS_MEMORY`` pairs (the
    steepest descent −g when memory is empty or the result is not a descent
    direction). J is evaluated at every step size of ``_STEPS`` at once
    (``value_along(x, d, steps)``, e.g. ``objective_along``) and the largest
    one meeting Armijo's condition (c₁ = 1e-4) is taken; if none does, the one with the
    least J if it is below J(x), else no step and the memory is cleared. A pair (s, y)
    enters the memory only if ⟨s, y⟩ > 0, so the implicit inverse Hessian stays
    positive definite. No data-dependent loops: under ``vmap`` every run costs the
    same, which is what makes thousands of runs in one program cheap (optax's L-BFGS
    line searches are ``while_loop``s, 3-5× slower per run when batched here).
    """
    m = LBFGS_MEMORY
    g = st.grad
    q, alphas = g, []
    for j in range(m):  # the memory is kept newest first: static indices
        a = st.rho[j] * (st.s[j] @ q)
        q = q - a * st.y[j]
        alphas.append(a)
    yy = st.y[0] @ st.y[0]
    gamma = jnp.where(
        st.rho[0] > 0, 1.0 / jnp.maximum(st.rho[0] * yy, jnp.finfo(g.dtype).tiny), 1.0
    )
    r = gamma * q
    for j in reversed(range(m)):
        b = st.rho[j] * (st.y[j] @ r)
        r = r + (alphas[j] - b) * st.s[j]
    d = -r
    slope = d @ g
    steepest = ~(slope < 0)
    # Without curvature information, scale −g to a step of length at most 1.
    d = jnp.where(steepest, -g / jnp.maximum(1.0, jnp.linalg.norm(g)), d)
    slope = jnp.where(steepest, d @ g, slope)
    steps = jnp.asarray(_STEPS, g.dtype)
    vals = value_along(st.x, d, steps)
    vals = jnp.where(jnp.isfinite(vals), vals, jnp.inf)
    armijo = vals <= st.value + 1e-4 * steps * slope
    best = jnp.argmin(vals)
    pick = jnp.where(jnp.any(armijo), jnp.argmax(armijo), best)
    moved = jnp.any(armijo) | (vals[best] < st.value)
    t = jnp.where(moved, steps[pick], 0.0)
    x = st.x + t * d
    v, g_new = value_and_grad(x)
    sv, yv = x - st.x, g_new - g
    sy = sv @ yv
    keep = moved & (sy > 1e-10 * jnp.sqrt((sv @ sv) * (yv @ yv)))

    def push(mem, new):  # newest first; the oldest pair drops out
        return jnp.where(keep, jnp.concatenate([new[None], mem[:-1]]), mem)

    s_mem, y_mem = push(st.s, sv), push(st.y, yv)
    rho = push(st.rho, 1.0 / jnp.where(keep, sy, 1.0))
    rho = jnp.where(moved, rho, jnp.zeros_like(rho))  # no progress: forget curvature
    return LbfgsState(x, v, g_new, s_mem, y_mem, rho, st.k + keep.astype(jnp.int32))


def until_stationary(
    params: Params,
    x: Array,
    y: Array,
    lam,
    b_star,
    *,
    method: str = "lbfgs",
    lr=0.2,
    momentum: float = 0.9,
    stop: Stop = Stop(),  # noqa: B008  (an immutable NamedTuple)
) -> tuple[Params, Stationarity]:
    """Minimize J_λ on the full batch from ``params`` until ``stop`` holds.

    Every method's fixed points are the stationary points of the same J_λ, and the
    rule is checked on the true full-batch gradient, so the end point is a stationary
    point whatever the method. Under ``jax.vmap`` the loop runs until every run has
    stopped; a stopped run's parameters no longer change (``lax.while_loop``'s
    batching keeps them).

    Args:
      params: the start (e.g. the end of a GD or SGD run).
      x, y, lam: the data and λ (``lam`` may be traced).
      b_star: ``(m0, d)`` teacher directions, for the angle part of the rule.
      method: ``'lbfgs'`` (``_lbfgs_step``), ``'gd'`` (plain gradient descent at
        ``lr``) or ``'momentum'`` (optax's Nesterov SGD, ``lr`` and ``momentum``).
      stop: the stopping rule.
    """
    from jax.flatten_util import ravel_pytree

    from jaxnet.teacher_student import measures

    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}; got {method!r}")
    checks.positive_int("stop.every", stop.every)
    checks.positive_int("stop.max_steps", stop.max_steps)
    for name in ("grad_rtol", "angle_rtol", "angle_atol", "stall_rtol"):
        checks.real(f"stop.{name}", getattr(stop, name), low=0.0)
    flat, unravel = ravel_pytree(params)
    value = lambda z: objective(unravel(z), x, y, lam)  # noqa: E731
    value_and_grad = jax.value_and_grad(value)
    if method == "lbfgs":
        init = lambda z: _lbfgs_init(value_and_grad, z)  # noqa: E731

        def along(z, d, steps):
            return objective_along(unravel(z), unravel(d), x, y, lam, steps)

        step = lambda z, st: (lambda n: (n.x, n))(  # noqa: E731
            _lbfgs_step(value_and_grad, along, st)
        )
    else:
        opt = optax.sgd(
            lr,
            momentum=momentum if method == "momentum" else None,
            nesterov=method == "momentum",
        )
        init = opt.init

        def step(z, st):
            updates, st = opt.update(jax.grad(value)(z), st, z)
            return z + updates, st

    def angle(z):
        return measures.mass_weighted_angle(unravel(z), b_star, xp=jnp)

    def cond(carry):
        *_, steps, _, done, stalled = carry
        return ~done & ~stalled & (steps < stop.max_steps)

    def body(carry):
        z0, state, steps, prev, _, _ = carry
        (z, state), _ = jax.lax.scan(
            lambda c, _: (step(*c), None), (z0, state), None, length=stop.every
        )
        j0 = value(z0)
        stalled = ~(value(z) < j0 - stop.stall_rtol * jnp.abs(j0))
        z = jnp.where(stalled, z0, z)
        a = angle(z)
        done = (relative_gradient(unravel(z), x, y, lam) <= stop.grad_rtol) & (
            jnp.abs(a - prev) <= stop.angle_rtol * a + stop.angle_atol
        )
        return z, state, steps + stop.every, a, done, stalled & ~done

    false = jnp.zeros((), bool)
    carry = (flat, init(flat), jnp.zeros((), jnp.int32), angle(flat), false, false)
    flat, _, steps, a, done, stalled = jax.lax.while_loop(cond, body, carry)
    params = unravel(flat)
    return params, Stationarity(
        done, stalled, steps, relative_gradient(params, x, y, lam), a
    )


def kink_stationarity(
    params, x, y, lam, *, kink_tol: float = 1e-9
) -> tuple[float, int]:
    """Stationarity at a nonsmooth point, in Clarke's sense (host side, NumPy).

    J_λ is not differentiable where a neuron's boundary passes through a data point
    (⟨b_i, x_j⟩ = 0 with a_i ≠ 0: a *kink*). There the relu's derivative may be any
    t_ij ∈ [0, 1], and only ∂J/∂b_i depends on it, affinely:
    ∂J/∂b_i(t) = (1/N) Σ_{j not a kink} r_j a_i 1[⟨b_i, x_j⟩ > 0] x_j + (1/N) Σ_{kinks j}
    t_ij r_j a_i x_j
    + λ b_i (r = f(X) − y; σ(0) = 0, so r and ∂J/∂a do not depend on t). J_λ is
    piecewise smooth, so its Clarke generalized gradient at θ is the convex hull of the
    one-sided gradients, i.e. the set {∇J(t): t ∈ [0, 1]^kinks}; θ is Clarke-stationary
    iff it holds 0. This returns ``(min_t ‖∇J(t)‖ / (λ‖θ‖), number of kinks)`` (bounded
    least squares per neuron, SciPy), to compare with ``Stop.grad_rtol``; a kink is a
    pair with |⟨b_i, x_j⟩| ≤ ``kink_tol``·‖b_i‖.
    """
    from scipy.optimize import lsq_linear

    w = np.asarray(params["w"], np.float64)
    a = np.asarray(params["v"], np.float64)
    x = np.asarray(x, np.float64)
    y = np.asarray(y, np.float64)
    n = len(y)
    pre = x @ w.T  # (N, m)
    r = np.maximum(pre, 0.0) @ a - y
    norm_b = np.linalg.norm(w, axis=1)
    kink = (
        (np.abs(pre) <= kink_tol * np.maximum(norm_b, 1e-300))
        & (a != 0)[None, :]
        & (norm_b > 0)[None, :]
    )
    grad_a = np.maximum(pre, 0.0).T @ r / n + lam * a
    sq = float(np.sum(grad_a**2))
    for i in range(len(a)):
        g0 = a[i] * (((pre[:, i] > 0) & ~kink[:, i]) * r) @ x / n + lam * w[i]
        js = np.flatnonzero(kink[:, i])
        if len(js):
            cols = (a[i] * r[js, None] * x[js]).T / n  # (d, kinks of neuron i)
            g0 = g0 + cols @ lsq_linear(cols, -g0, bounds=(0.0, 1.0)).x
        sq += float(g0 @ g0)
    theta = np.sqrt(np.sum(w**2) + np.sum(a**2))
    return float(np.sqrt(sq) / max(lam * theta, np.finfo(float).tiny)), int(kink.sum())
