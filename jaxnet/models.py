"""Networks of any depth as pure functions of (params, x), built from flax modules.

A ``Network`` is what the depth-L experiments need of a model::

    apply(params, fixed, x) -> scalar        one example x: (d,)
    init(key, d0) -> (params, fixed)         the trial's key; d0 the true input dim

    pattern(params, fixed, x) -> (H,) bool   optional: x's activation pattern
    preact(params, fixed, x) -> (H,)         optional: every hidden pre-activation

``params`` is the pytree the Jacobian is taken with respect to (and that training
updates); ``fixed`` is the rest (the slides' output weights v). Both are plain nested
dicts (flax's ``State.to_pure_dict``), so jit, vmap, jacrev and optax see ordinary
pytrees. A builder ``(d_in, width, depth) -> Network`` makes the network of one
shape; ``MODELS`` names the builders an experiment's ``--model`` accepts.

``from_flax(factory)`` turns a ``flax.nnx`` module factory
``factory(d_in, width, depth, *, rngs)`` whose call maps ``x: (d_in,)`` to a scalar into
a builder: its ``nnx.Param`` variables are ``params``, every other variable (``Fixed``)
is ``fixed``, and ``init`` runs the module's own initializers from the trial key. So a
user's model is one ``register_model(name, from_flax(MyModule))`` call. A module with a
``pattern(x)`` method (the on/off state of every ReLU; inputs sharing it must lie in
one piece where the network is affine in x) also gets ``Network.pattern``, which lets
``jacobian.pattern_deficiency`` certify rank-deficient Jacobians without an SVD. One
with a ``preactivations(x)`` method (the values whose signs are the pattern) also gets
``Network.preact``, which locates the faces gradient descent slides along.

``MLP`` (depth L counts weight layers; L = 2 is the slides' F(W, x) = vᵀσ(W x̃))::

    h_0 = x,   h_l = σ(W_l h_{l−1} + b_l) = σ([W_l | b_l] (h_{l−1}, 1)),  l = 1..L−1,
    F(θ, x) = vᵀ h_{L−1},                  σ = jax.nn.relu,

every hidden layer of width m, the bias as the weight of an appended 1 (as the slides
write x̃ = (x, 1)), v a ``Fixed`` variable: the Jacobian is taken with respect to all
hidden layers [W_l | b_l] and not v.

``MODELS['mlp']`` is ``MLP`` with the slides' draws extended to depth:

- layer 1 [w | b] and v iid N(0, 1), exactly ``nets.init_units`` of the ``paper``
  convention: at L = 2 a trial is the Figure-4 trial of the same key;
- layers l = 2..L−1: [W_l | b_l] iid N(0, 2/(m+1)) (He's scale for the augmented
  fan-in m + 1), from counter streams 4, 5, ... of the trial key (the layout:
  ``jaxnet.prng.TRIAL_STREAMS``).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
from flax import nnx

from jaxnet import nets, prng
from jaxnet.rank import jacobian


class Fixed(nnx.Variable):
    """A module variable that is part of the network but not differentiated or trained."""


class Network(NamedTuple):
    """A network of one shape as pure functions (module docstring)."""

    apply: Callable  # (params, fixed, x: (d,)) -> scalar
    init: Callable  # (key, d0) -> (params, fixed)
    pattern: Callable | None = None  # (params, fixed, x) -> (H,) bool, or None
    preact: Callable | None = None  # (params, fixed, x) -> (H,) float, or None


class MLP(nnx.Module):
    """A ReLU MLP with ``depth − 1`` hidden layers of ``width`` units, biases, and a
    fixed output vector (module docstring)."""

    def __init__(self, d_in: int, width: int, depth: int, *, rngs: nnx.Rngs):
        if depth < 2:
            raise ValueError(f"depth must be >= 2 (weight layers); got {depth}")
        sizes = [d_in] + [width] * (depth - 1)
        dtype = jnp.result_type(float)  # float64 where x64 is on (the rank rule's)
        self.hidden = nnx.List(
            [
                nnx.Linear(
                    a,
                    b,
                    bias_init=nnx.initializers.normal(1.0),
                    param_dtype=dtype,
                    rngs=rngs,
                )
                for a, b in zip(sizes[:-1], sizes[1:], strict=True)
            ]
        )
        self.out = Fixed(jax.random.normal(rngs.params(), (width,), dtype))

    def __call__(self, x):
        for layer in self.hidden:
            x = jax.nn.relu(layer(x))
        return self.out[...] @ x

    def preactivations(self, x):
        """Every hidden unit's pre-activation at x, layer by layer: ``(H,)``."""
        zs = []
        for layer in self.hidden:
            z = layer(x)
            zs.append(z)
            x = jax.nn.relu(z)
        return jnp.concatenate(zs)

    def pattern(self, x):
        """The activation pattern of x: every hidden unit's pre-activation > 0 (the
        units where relu's derivative, as JAX takes it, is 1)."""
        return self.preactivations(x) > 0


def from_flax(factory: Callable) -> Callable:
    """A builder ``(d_in, width, depth) -> Network`` from an nnx module factory
    ``factory(d_in, width, depth, *, rngs)`` (module docstring)."""

    @functools.cache
    def build(d_in: int, width: int, depth: int) -> Network:
        abstract = nnx.eval_shape(lambda: factory(d_in, width, depth, rngs=nnx.Rngs(0)))
        graphdef, p_template, f_template = nnx.split(abstract, nnx.Param, ...)

        def module(params, fixed):
            p_state = jax.tree.map(lambda a: a, p_template)
            f_state = jax.tree.map(lambda a: a, f_template)
            nnx.replace_by_pure_dict(p_state, params)
            nnx.replace_by_pure_dict(f_state, fixed)
            return nnx.merge(graphdef, p_state, f_state)

        def apply(params, fixed, x):
            return module(params, fixed)(x)

        def pattern(params, fixed, x):
            return module(params, fixed).pattern(x)

        def init(key, d0):
            del d0  # the module's initializers do not see padding
            module = factory(d_in, width, depth, rngs=nnx.Rngs(params=key))
            _, p_state, f_state = nnx.split(module, nnx.Param, ...)
            return nnx.to_pure_dict(p_state), nnx.to_pure_dict(f_state)

        def preact(params, fixed, x):
            return module(params, fixed).preactivations(x)

        return Network(
            apply,
            init,
            pattern if hasattr(abstract, "pattern") else None,
            preact if hasattr(abstract, "preactivations") else None,
        )

    return build


def mlp(d_in: int, width: int, depth: int) -> Network:
    """``MLP`` with the slides' draws extended to depth (module docstring)."""
    net = from_flax(MLP)(d_in, width, depth)

    def init(key, d0):
        dtype = jnp.result_type(float)
        first = nets.init_units(
            key, "paper", jnp.uint32(0), width, d0, big_d0=d_in, dtype=dtype
        )
        hidden = {0: {"kernel": first["w"].T, "bias": first["b"]}}
        scale = math.sqrt(2.0 / (width + 1))
        for layer in range(1, depth - 1):
            words = prng.block_bits(
                key,
                prng.FIRST_LAYER_STREAM + layer - 1,
                jnp.arange(width),
                jnp.arange(width + 1),
            )
            wb = scale * prng.normal(words, dtype)  # (out, in + 1) = [W_l | b_l]
            hidden[layer] = {"kernel": wb[:, :width].T, "bias": wb[:, width]}
        return {"hidden": hidden}, {"out": first["v"]}

    return net._replace(init=init)


MODELS: dict[str, Callable] = {}


def register_model(name: str, build: Callable) -> Callable:
    """Add a builder ``(d_in, width, depth) -> Network`` under ``name`` (new)."""
    if name in MODELS:
        raise ValueError(f"model {name!r} is already registered")
    MODELS[name] = build
    return build


def get_model(name: str) -> Callable:
    """The builder registered as ``name``."""
    if name not in MODELS:
        raise ValueError(f"model must be one of {tuple(MODELS)}; got {name!r}")
    return MODELS[name]


register_model("mlp", mlp)
register_model("flax_mlp", from_flax(MLP))


def n_params(build: Callable, d0: int, width: int, depth: int) -> int:
    """Number of Jacobian columns P of the network ``build(d0, width, depth)``."""
    params, _ = jax.eval_shape(build(d0, width, depth).init, jax.random.key(0), d0)
    return sum(math.prod(a.shape) for a in jax.tree.leaves(params))


def flat_jacobian(net: Network, params, fixed, xs):
    """``(n, P)`` Jacobian of F(·, x_j) w.r.t. ``params`` by ``vmap(jacrev)``, columns
    in ``ravel_pytree`` order of ``params``."""
    return jacobian.per_example(lambda p, x: net.apply(p, fixed, x), params, xs)


def apply_batch(net: Network, params, fixed, xs):
    """F(θ, x_j) for ``xs: (n, d)``: ``(n,)``."""
    return jax.vmap(net.apply, in_axes=(None, None, 0))(params, fixed, xs)
