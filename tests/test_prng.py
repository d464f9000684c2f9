import jax
import numpy as np

from jaxnet import data, nets, prng


def test_draws_are_prefix_stable_in_rows_and_columns(key):
    big = data.gaussian(key, 9, 7)
    small = data.gaussian(key, 4, 3)
    np.testing.assert_array_equal(np.asarray(big)[:4, :3], np.asarray(small))
    p_big = nets.init_params(key, 6, 10, convention="peer", d_true=2)
    p_small = nets.init_params(key, 2, 3, convention="peer")
    np.testing.assert_array_equal(np.asarray(p_big["w"])[:3, :2], p_small["w"])
    np.testing.assert_array_equal(np.asarray(p_big["b"])[:3], p_small["b"])
    np.testing.assert_array_equal(np.asarray(p_big["v"])[:3], p_small["v"])


def test_streams_differ_and_samplers_have_the_right_law(key):
    bits = prng.stream_bits(key, {"a": (200, 50), "b": (200, 50)})
    assert not np.array_equal(bits["a"][0], bits["b"][0])
    u = np.asarray(prng.uniform(bits["a"], np.float64))
    z = np.asarray(prng.normal(bits["b"], np.float64))
    assert u.min() >= 0 and u.max() < 1
    # 10^4 draws: sd of the mean is 0.003 (uniform) and 0.01 (normal); 5 sd bounds.
    assert abs(u.mean() - 0.5) < 0.015
    assert abs(z.mean()) < 0.05 and abs(z.std() - 1) < 0.05


def test_float32_draws(key):
    x = data.uniform_box(key, 100, 10, dtype=np.float32)
    assert x.dtype == np.float32 and float(x.min()) >= 0 and float(x.max()) < 1
    assert np.isfinite(
        np.asarray(
            prng.normal(prng.stream_bits(key, {"z": (100, 100)})["z"], np.float32)
        )
    ).all()


def test_derive_key_depends_on_both_values(key):
    k1 = jax.random.key_data(prng.derive_key(key, 1, 2))
    k2 = jax.random.key_data(prng.derive_key(key, 2, 1))
    assert not np.array_equal(k1, k2)
