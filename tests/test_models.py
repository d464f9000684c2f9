"""Networks of any depth (jaxnet.models): autodiff Jacobians against closed forms, the
two-layer case against the slides' network, user flax models through the registry."""

import jax
import jax.flatten_util
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from jaxnet import models
from jaxnet.experiments import full_rank
from jaxnet.rank import jacobian


def test_depth2_mlp_is_the_figure4_trial(key):
    n, d0, m = 9, 2, 6
    params, xs, _ = full_rank.sample_trial(
        key, "paper", n, d0, m, sizes=(n, 3, m), dtype=jnp.float64
    )
    net = models.mlp(3, m, 2)
    p, f = net.init(key, d0)
    np.testing.assert_array_equal(p["hidden"][0]["kernel"].T, params["w"])
    np.testing.assert_array_equal(p["hidden"][0]["bias"], params["b"])
    np.testing.assert_array_equal(f["out"], params["v"])
    j = models.flat_jacobian(net, p, f, xs)
    ref = jacobian.closed_form_jacobian(params, xs, ("b", "w"))
    # columns: bias (m), then kernel (3, m) row-major; the closed form's w is (m, 3)
    kernel = j[:, m:].reshape(n, 3, m).transpose(0, 2, 1).reshape(n, -1)
    np.testing.assert_allclose(j[:, :m], ref[:, :m], rtol=0, atol=1e-14)
    np.testing.assert_allclose(kernel, ref[:, m:], rtol=0, atol=1e-14)


def _closed_form_depth3(p, v, x):
    """dF/d(b1, K1, b2, K2) of F = v . relu(relu(x K1 + b1) K2 + b2) for one x."""
    k1, b1 = p["hidden"][0]["kernel"], p["hidden"][0]["bias"]
    k2, b2 = p["hidden"][1]["kernel"], p["hidden"][1]["bias"]
    z1 = x @ k1 + b1
    h1 = np.maximum(z1, 0)
    z2 = h1 @ k2 + b2
    d2 = v * (z2 > 0)
    d1 = (k2 @ d2) * (z1 > 0)
    return np.concatenate([d1, np.outer(x, d1).ravel(), d2, np.outer(h1, d2).ravel()])


def test_depth3_autodiff_jacobian_equals_closed_form(key):
    n, d0, m = 7, 3, 5
    net = models.mlp(d0, m, 3)
    p, f = net.init(key, d0)
    xs = jax.random.normal(jax.random.fold_in(key, 1), (n, d0))
    j = np.asarray(models.flat_jacobian(net, p, f, xs))
    pn = jax.tree.map(np.asarray, p)
    ref = np.stack(
        [_closed_form_depth3(pn, np.asarray(f["out"]), np.asarray(x)) for x in xs]
    )
    assert j.shape == (n, m * (d0 + 1) + m * (m + 1)) == ref.shape
    np.testing.assert_allclose(j, ref, rtol=1e-12, atol=1e-12)
    assert models.n_params(models.mlp, d0, m, 3) == j.shape[1]


@pytest.mark.slow
def test_deep_layers_draw_he_scale_from_their_own_streams(key):
    net = models.mlp(2, 400, 3)
    p, _ = net.init(key, 2)
    w2 = np.asarray(p["hidden"][1]["kernel"])
    # [W_2 | b_2] iid N(0, 2/(m+1)): sample variance within 5% (160,000 draws)
    np.testing.assert_allclose(w2.var() * 401 / 2, 1.0, rtol=0.05)
    # layer 1 does not depend on the depth (streams 0-2 only)
    p2, _ = models.mlp(2, 400, 2).init(key, 2)
    np.testing.assert_array_equal(p["hidden"][0]["kernel"], p2["hidden"][0]["kernel"])


class _Tiny(nnx.Module):
    """A user model: one tanh layer, trainable output."""

    def __init__(self, d_in, width, depth, *, rngs):
        self.inner = nnx.Linear(d_in, width, param_dtype=jnp.float64, rngs=rngs)
        self.outer = nnx.Linear(width, 1, param_dtype=jnp.float64, rngs=rngs)

    def __call__(self, x):
        return self.outer(jnp.tanh(self.inner(x)))[0]


def test_a_user_flax_model_runs_through_the_registry(key):
    name = "test_tiny"
    if name not in models.MODELS:
        models.register_model(name, models.from_flax(_Tiny))
    with pytest.raises(ValueError, match="already registered"):
        models.register_model(name, models.from_flax(_Tiny))
    net = models.get_model(name)(3, 4, 2)
    p, f = net.init(key, 3)
    xs = jax.random.normal(key, (5, 3))
    j = models.flat_jacobian(net, p, f, xs)
    assert j.shape == (5, models.n_params(models.get_model(name), 3, 4, 2)) == (5, 21)
    # finite differences on one coordinate (float64, step 1e-6: error ~1e-9)
    flat, unravel = jax.flatten_util.ravel_pytree(p)
    e = jnp.zeros_like(flat).at[7].set(1e-6)
    fd = (
        models.apply_batch(net, unravel(flat + e), f, xs)
        - models.apply_batch(net, unravel(flat - e), f, xs)
    ) / 2e-6
    np.testing.assert_allclose(j[:, 7], fd, atol=1e-8)
    with pytest.raises(ValueError, match="model must be one of"):
        models.get_model("nope")
