"""Figure 4 at depth L (jaxnet.experiments.deep_rank): the two-layer case is the
Figure-4 engine trial by trial; decisions equal NumPy's SVD rule on the same draws."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnet import models, runtime
from jaxnet.experiments import deep_rank, full_rank
from jaxnet.rank import jacobian


@pytest.mark.slow
def test_two_layer_equals_the_figure4_engine_trial_by_trial():
    res = deep_rank.probability(
        depth=[2], d0=[1, 2], ratio=[0.5], n=[6, 12, 20], width=[4, 12, 40], trials=24
    )
    chk = res.results["fig4_check"]
    assert chk["d0"] == {"decisions": 2 * 3 * 3 * 24, "disagree": 0}
    assert chk["ratio"] == {"decisions": 3 * 3 * 24, "disagree": 0}
    p = res.column("p")
    assert p.min() < 0.5 < p.max()  # the grid crosses the threshold


@pytest.mark.slow
def test_decisions_equal_numpy_svd_rule_at_depth_3():
    res = deep_rank.probability(
        depth=[3], d0=[2], n=[8, 16], width=[3, 6], trials=12, check_fig4=False
    )
    codes = res.arrays["code"]
    key = jax.random.key(0)  # the default seed
    for c, cell in enumerate(res.cells):
        net = models.mlp(cell["d0"], cell["d1"], 3)
        seed = runtime.cell_seed("full_rank", "paper", cell["n"], cell["d0"])
        for t in range(12):
            k = runtime.trial_key(key, seed, t)
            j = np.asarray(
                deep_rank.jacobian_fn(net, (cell["n"], cell["d0"]))(
                    k, cell["n"], cell["d0"]
                )
            )
            s = np.linalg.svd(j, compute_uv=False)
            full = (
                s[cell["n"] - 1] > max(j.shape) * np.finfo(float).eps * s[0]
                if j.shape[1] >= cell["n"]
                else False
            )
            assert full == (codes[c, t] in jacobian.FULL_CODES), (cell, t)
    assert {r["depth"] for r in res.results["thresholds"]} == {3}
    assert (codes == jacobian.PATTERN_DEFICIENT).any()  # the pattern path was taken


@pytest.mark.slow
def test_padding_does_not_change_a_trial():
    net = models.mlp(4, 5, 3)
    key = jax.random.key(7)
    small = deep_rank.jacobian_fn(models.mlp(2, 5, 3), (6, 2))(key, 6, 2)
    big = deep_rank.jacobian_fn(net, (9, 4))(key, jnp.int32(6), jnp.int32(2))
    s_small = np.linalg.svd(np.asarray(small), compute_uv=False)
    s_big = np.linalg.svd(np.asarray(big), compute_uv=False)
    np.testing.assert_allclose(s_big[:6], s_small, rtol=1e-12)
    np.testing.assert_allclose(s_big[6:], 0, atol=1e-12 * s_small[0])
    # the Figure-4 draws: depth 2's first layer is full_rank.sample_trial's
    params, _, _ = full_rank.sample_trial(
        key, "paper", 6, 2, 5, sizes=(6, 4, 5), dtype=jnp.float64
    )
    p, _ = net.init(key, 2)
    np.testing.assert_array_equal(p["hidden"][0]["kernel"].T, params["w"])


def _affine_rows(rng, n, d0, p):
    """Rows J_j = A + B x_j (every point in one affine piece), x_j iid N(0, I)."""
    xs = rng.standard_normal((n, d0))
    a, b = rng.standard_normal((1, p)), rng.standard_normal((d0, p))
    return xs, a + xs @ b


def test_pattern_certificate_fires_on_an_affine_dependency():
    rng = np.random.default_rng(0)
    n, d0, p = 6, 2, 30
    xs, j = _affine_rows(rng, n, d0, p)
    j[d0 + 2 :] = rng.standard_normal((n - d0 - 2, p))  # only the first 4 share a piece
    bits = np.ones((n, 5), bool)
    bits[d0 + 2 :, 0] = False
    bits[d0 + 2 :, 1] = np.arange(n - d0 - 2) % 2 == 0  # distinct patterns for the rest
    rtol = max(n, p) * np.finfo(float).eps
    hit, bound = jacobian.pattern_deficiency(
        jnp.asarray(j), jnp.asarray(xs), jnp.asarray(bits), n, d0, rtol
    )
    s = np.linalg.svd(j, compute_uv=False)
    assert bool(hit)
    assert s[n - 1] / s[0] <= float(bound) < rtol / 2  # the bound holds and is < rtol/β


@pytest.mark.slow
def test_pattern_certificate_never_fires_on_a_full_rank_jacobian():
    # wrong patterns (every point "in one piece") on a full-rank J: the test must fail
    rng = np.random.default_rng(1)
    for n, d0 in ((5, 1), (8, 2), (9, 3)):
        xs = rng.standard_normal((n, d0))
        j = rng.standard_normal((n, 4 * n))
        bits = np.ones((n, 3), bool)
        hit, bound = jacobian.pattern_deficiency(
            jnp.asarray(j),
            jnp.asarray(xs),
            jnp.asarray(bits),
            n,
            d0,
            max(j.shape) * np.finfo(float).eps,
        )
        s = np.linalg.svd(j, compute_uv=False)
        assert not bool(hit)
        assert float(bound) >= s[n - 1] / s[0]  # still an upper bound on s_n/s_1


def test_pattern_certificate_with_padding():
    # padded rows and input coordinates (as the sweep pads a cell) change nothing
    rng = np.random.default_rng(2)
    n, d0, p = 7, 1, 20
    xs, j = _affine_rows(rng, n, d0, p)
    bits = np.ones((n, 4), bool)
    rtol = max(n, p) * np.finfo(float).eps
    pad_x = np.zeros((10, 3))
    pad_x[:n, :d0] = xs
    pad_j = np.zeros((10, p))
    pad_j[:n] = j
    pad_bits = np.zeros((10, 4), bool)
    pad_bits[:n] = bits
    hit, bound = jacobian.pattern_deficiency(
        jnp.asarray(pad_j),
        jnp.asarray(pad_x),
        jnp.asarray(pad_bits),
        n,
        d0,
        rtol,
        row_mask=jnp.arange(10) < n,
    )
    assert bool(hit) and float(bound) < rtol / 2


@pytest.mark.slow
def test_pattern_decisions_are_svd_deficient_on_deep_trials():
    # every pattern-certified trial of a small depth-3/4 sweep is rank-deficient by
    # NumPy's SVD rule, and the certificate decides most deficient trials
    res = deep_rank.probability(
        depth=[3, 4], d0=[1, 2], n=[12, 24], width=[4, 8], trials=16, check_fig4=False
    )
    codes, s_upper = res.arrays["code"], res.arrays["s_upper"]
    key = jax.random.key(0)
    hits = deficient = 0
    for c, cell in enumerate(res.cells):
        if cell["n_params"] < cell["n"]:
            continue
        net = models.mlp(cell["d0"], cell["d1"], cell["depth"])
        seed = runtime.cell_seed("full_rank", "paper", cell["n"], cell["d0"])
        jac = deep_rank.jacobian_fn(net, (cell["n"], cell["d0"]))
        for t in range(16):
            if codes[c, t] not in (jacobian.PATTERN_DEFICIENT, jacobian.SVD_DEFICIENT):
                continue
            j = np.asarray(jac(runtime.trial_key(key, seed, t), cell["n"], cell["d0"]))
            s = np.linalg.svd(j, compute_uv=False)
            assert s[cell["n"] - 1] <= cell["rtol"] * s[0]
            deficient += 1
            if codes[c, t] == jacobian.PATTERN_DEFICIENT:
                hits += 1
                assert s[cell["n"] - 1] / s[0] <= s_upper[c, t] < cell["rtol"] / 2
    assert deficient > 20 and hits >= 0.8 * deficient
