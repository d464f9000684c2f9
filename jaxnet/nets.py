"""Two-layer ReLU networks as pure functions, and their initializations.

The network (one example ``x`` of dimension ``d``, ``m`` hidden units)::

    F(θ, x) = Σ_i v_i σ(⟨w_i, x⟩ + b_i),      σ = jax.nn.relu,

with parameters a plain dict pytree ``{'w': (m, d), 'b': (m,), 'v': (m,)}``.
The slides write F(W, x̃) = vᵀσ(W x̃) with x̃ = (x, 1): their W is ``[w | b]``.
A unit is *active* on x iff its pre-activation is strictly positive (``pre > 0``),
which is also where ``jax.nn.relu`` has derivative 1 (it has derivative 0 at 0).

Conventions (``Convention``, one record each in ``CONVENTIONS``): how every rank
experiment draws a trial, which parameters its Jacobian takes and its default rank rule.

``paper``  (the slides' experiments)
    w_ij, b_i, v_i iid N(0, 1); data x iid N(0, I_d) (``jaxnet.data``). The Jacobian is
    taken with respect to W = [w | b] only (v is fixed); rank rule eps(float64).
``peer``   (the public PyTorch reference code, ``kedar2/loss-landscape``)
    w_ij, b_i iid U(−1/√d, 1/√d) (PyTorch's default ``Linear`` init), v_i iid N(0, 1)
    frozen but still a column block of the Jacobian, so the Jacobian is taken with
    respect to (w, b, v); data x iid U[0, 1]^d; rank rule eps(float32), data and
    parameters drawn in float32 (as PyTorch does).

A new convention is one ``register_convention`` call: a data law of ``jaxnet.data.LAWS``,
an initialization ``init(bits, d_true, dtype) -> Params`` (``gaussian_init`` and
``torch_linear_init`` are the two above), the Jacobian's blocks and the rank dtype.

Parameters are drawn by ``jaxnet.prng`` from explicit counters, so the numbers of a
unit depend neither on how many units nor on how many input coordinates are drawn: a
padded draw of shape (M, D) equals, on its leading (m, d) block, the unpadded draw.
The Monte-Carlo sweeps rely on this to run a whole grid of sizes in one program.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import jax
import jax.numpy as jnp

from jaxnet import checks, data, prng
from jaxnet.types import Array, Params


def gaussian_init(bits, d_true, dtype) -> Params:
    """w_ij, b_i, v_i iid N(0, 1) (the slides)."""
    del d_true
    return {
        "w": prng.normal(bits["w"], dtype),
        "b": prng.normal(bits["b"], dtype)[0],
        "v": prng.normal(bits["v"], dtype)[0],
    }


def torch_linear_init(bits, d_true, dtype) -> Params:
    """w_ij, b_i iid U(−1/√d, 1/√d) with the true input dimension d (PyTorch's default
    ``Linear``), v_i iid N(0, 1) (the reference code)."""
    v = prng.normal(bits["v"], dtype)[0]
    scale = (1.0 / jnp.sqrt(jnp.asarray(d_true, dtype))).astype(dtype)
    w = (2 * prng.uniform(bits["w"], dtype) - 1) * scale
    b = (2 * prng.uniform(bits["b"], dtype)[0] - 1) * scale
    return {"w": w, "b": b, "v": v}


@dataclasses.dataclass(frozen=True)
class Convention:
    """How a rank experiment draws a trial and decides its rank (module docstring).

    Attributes:
      name: the ``--convention`` value; also hashed into the trial keys.
      data: the input law, a key of ``jaxnet.data.LAWS``.
      init: ``(bits, d_true, dtype) -> Params`` from the words of ``param_shapes``;
        ``d_true`` is the true input dimension (traced when sizes are padded).
      wrt: the parameter blocks the Jacobian is taken with respect to, in column order.
      rank_dtype: ``'float64'`` or ``'float32'``: trials are drawn in this dtype and the
        default SVD rule is s_n > max(n, P)·eps(rank_dtype)·s_1.
    """

    name: str
    data: str
    init: Callable
    wrt: tuple[str, ...]
    rank_dtype: str


CONVENTIONS: dict[str, Convention] = {}


def register_convention(conv: Convention) -> Convention:
    """Add ``conv`` to ``CONVENTIONS``; returns it. Registering a convention equal to
    the one registered under its name again is a no-op (a notebook cell re-run); a
    different convention under a taken name is refused."""
    if conv.name in CONVENTIONS:
        if CONVENTIONS[conv.name] == conv:
            return CONVENTIONS[conv.name]
        raise ValueError(
            f"convention {conv.name!r} is already registered (as "
            f"{CONVENTIONS[conv.name]!r})"
        )
    if conv.data not in data.LAWS:
        raise ValueError(f"data must be one of {tuple(data.LAWS)}; got {conv.data!r}")
    if not conv.wrt or not set(conv.wrt) <= {"w", "b", "v"}:
        raise ValueError(
            f"wrt must be a non-empty tuple of 'w', 'b', 'v'; got {conv.wrt!r}"
        )
    if conv.rank_dtype not in ("float32", "float64"):
        raise ValueError(
            f"rank_dtype must be 'float32' or 'float64'; got {conv.rank_dtype!r}"
        )
    CONVENTIONS[conv.name] = conv
    return conv


def get_convention(name: str) -> Convention:
    """The registered convention called ``name``."""
    if name not in CONVENTIONS:
        raise ValueError(
            f"convention must be one of {tuple(CONVENTIONS)}; got {name!r}"
        )
    return CONVENTIONS[name]


register_convention(
    Convention("paper", "gaussian", gaussian_init, ("b", "w"), "float64")
)
register_convention(
    Convention("peer", "uniform", torch_linear_init, ("b", "v", "w"), "float32")
)


def check_network(params: Params, xs: Array | None = None) -> None:
    """Validate a network's ``params`` (and inputs ``xs: (n, d)``): keys, ranks,
    matching sizes, floating dtypes, finite values. Raises ``ValueError`` naming the
    offending argument, instead of an error from inside JAX later."""
    if not isinstance(params, dict) or not {"w", "v"} <= set(params):
        raise ValueError(
            "params must be a dict with 'w' (m, d), 'v' (m,) and optionally "
            f"'b' (m,); got {type(params).__name__} "
            f"{sorted(params) if isinstance(params, dict) else ''}"
        )
    w, v = jnp.shape(params["w"]), jnp.shape(params["v"])
    if len(w) != 2 or v != (w[0],):
        raise ValueError(
            f"params['w'] must be (m, d) and params['v'] (m,); got {w}, {v}"
        )
    if "b" in params and jnp.shape(params["b"]) != (w[0],):
        raise ValueError(
            f"params['b'] must be (m,) = ({w[0]},); got {jnp.shape(params['b'])}"
        )
    for k, a in params.items():
        if not jnp.issubdtype(jnp.result_type(a), jnp.floating):
            raise ValueError(
                f"params['{k}'] must be floating point; got {jnp.result_type(a)}"
            )
        checks.finite(f"params['{k}']", a)
    if xs is not None:
        if jnp.ndim(xs) != 2 or jnp.shape(xs)[1] != w[1]:
            raise ValueError(
                f"xs must be (n, d) with d = {w[1]} (params['w'] is {w}); "
                f"got {jnp.shape(xs)}"
            )
        if jnp.shape(xs)[0] == 0:
            raise ValueError("xs must hold at least one example; got n = 0")
        if not jnp.issubdtype(jnp.result_type(xs), jnp.floating):
            raise ValueError(f"xs must be floating point; got {jnp.result_type(xs)}")
        checks.finite("xs", xs)


def apply(params: Params, x: Array) -> Array:
    """F(θ, x) for one example ``x: (d,)``; returns a scalar.

    Params without a ``'b'`` key are a bias-free network (the report's teacher and
    student, f(x) = Σ_i a_i σ(⟨b_i, x⟩) with a = ``v`` and b_i = ``w[i]``).

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxnet import nets
      >>> params = {"w": jnp.array([[1.0], [-1.0]]), "b": jnp.array([0.0, 1.0]),
      ...           "v": jnp.array([2.0, 3.0])}
      >>> float(nets.apply(params, jnp.array([0.5])))  # 2·relu(0.5) + 3·relu(0.5)
      2.5
    """
    pre = params["w"] @ x
    if "b" in params:
        pre = pre + params["b"]
    return params["v"] @ jax.nn.relu(pre)


def apply_batch(params: Params, xs: Array) -> Array:
    """F(θ, X) for ``xs: (n, d)``; returns ``(n,)``."""
    check_network(params, xs)
    return jax.vmap(apply, in_axes=(None, 0))(params, xs)


def preactivations(params: Params, xs: Array) -> Array:
    """⟨w_i, x_j⟩ + b_i as an ``(n, m)`` array (no bias term without a ``'b'`` key)."""
    pre = xs @ params["w"].T
    return pre + params["b"][None, :] if "b" in params else pre


def activation_pattern(params: Params, xs: Array) -> Array:
    """The pattern A with ``A[j, i] = pre[j, i] > 0`` (bool, ``(n, m)``).

    Note the layout: rows are examples. The slides' A ∈ {0,1}^{d1×n} is its transpose.
    """
    return preactivations(params, xs) > 0


def param_shapes(d: int, m: int) -> dict[str, tuple[int, int]]:
    """The ``prng.stream_bits`` shapes of the parameter draws (streams 0, 1, 2 of
    ``prng.TRIAL_STREAMS``)."""
    shapes = {"w": (m, d), "b": (1, m), "v": (1, m)}
    return {name: shapes[name] for name in prng.TRIAL_STREAMS[:3]}


def init_params(
    key, d: int, m: int, *, convention: str = "paper", d_true=None, dtype=None
) -> Params:
    """Sample network parameters under a named convention.

    Args:
      key: PRNG key.
      d: input dimension (static; may be a padded size, see module docstring).
      m: number of hidden units (static; may be padded).
      convention: the name of a registered ``Convention`` (module docstring).
      d_true: the true input dimension (the ``peer`` scale 1/√d) when ``d`` is a
        padded size; may be traced. Defaults to ``d``.
      dtype: float dtype; defaults to the default float (float64 iff x64 is on).

    Returns:
      ``{'w': (m, d), 'b': (m,), 'v': (m,)}``.
    """
    bits = prng.stream_bits(key, param_shapes(d, m))
    return params_from_bits(bits, convention=convention, d_true=d_true, dtype=dtype)


def init_units(
    key, convention: str, start, size: int, d0, *, big_d0: int, dtype
) -> Params:
    """Units [start, start + size) of the network ``init_params(key, big_d0, m)`` would
    draw for any m ≥ start + size (the same counters, so the same numbers), without
    drawing the units before: ``{'w': (size, big_d0), 'b', 'v': (size,)}``, coordinates
    ≥ ``d0`` zero. ``start`` and ``d0`` may be traced."""
    units = start + jnp.arange(size, dtype=jnp.uint32)
    bits = {
        "w": prng.block_bits(key, 0, units, jnp.arange(big_d0)),
        "b": prng.block_bits(key, 1, jnp.zeros(1), units),
        "v": prng.block_bits(key, 2, jnp.zeros(1), units),
    }
    params = get_convention(convention).init(bits, d0, dtype)
    feat = (jnp.arange(big_d0) < d0).astype(dtype)
    return {**params, "w": params["w"] * feat[None, :]}


def params_from_bits(bits, *, convention: str, d_true=None, dtype=None) -> Params:
    """``init_params`` from words already drawn for ``param_shapes`` (and maybe more).

    Lets a caller draw a trial's data and parameters in one hash call (each hash call
    site costs compile time).
    """
    dtype = dtype or jnp.result_type(float)
    d_true = bits["w"][0].shape[1] if d_true is None else d_true
    return get_convention(convention).init(bits, d_true, dtype)
