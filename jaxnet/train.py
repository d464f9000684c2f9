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
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
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
    return {"w": scale * prng.normal(bits["w"], dtype),
            "v": scale * prng.normal(bits["v"], dtype)[0]}


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
        raise ValueError(f"y must be (N,) = ({jnp.shape(x)[0]},); got shape {jnp.shape(y)}")
    checks.finite("x", x)
    checks.finite("y", y)
    for name in ("width", "steps", "log_every", "stages"):
        checks.positive_int(f"cfg.{name}", getattr(cfg, name))
    checks.positive_int("cfg.batch", cfg.batch, minimum=0)
    checks.real("cfg.init_scale", cfg.init_scale, low=0.0, low_open=True)
    checks.real("cfg.momentum", cfg.momentum, low=0.0, high=1.0, high_open=True)
    if cfg.steps % cfg.log_every or (cfg.stages > 1 and cfg.steps % cfg.stages):
        raise ValueError("cfg.steps must be a multiple of cfg.log_every and of cfg.stages")


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
        log_block, (params, state), jnp.arange(cfg.steps // cfg.log_every))
    return params, trace


def train_batch(keys, x, y, lr, lam, lam_final, cfg: TrainConfig):
    """``train`` vmapped over runs: every argument but ``cfg`` has a leading run axis
    (``x: (R, N, d)``, ``y: (R, N)``, ``lr, lam, lam_final: (R,)``)."""
    return jax.vmap(lambda k, xx, yy, a, b, c: train(k, xx, yy, a, b, c, cfg))(
        keys, x, y, lr, lam, lam_final)
