"""Figure 4 at depth L (jaxnet.experiments.deep_rank): the two-layer case is the
Figure-4 engine trial by trial; decisions equal NumPy's SVD rule on the same draws."""

import jax
import jax.numpy as jnp
import numpy as np

from jaxnet import jacobian, models, runner
from jaxnet.experiments import deep_rank
from jaxnet.experiments import full_rank as fr


def test_two_layer_equals_the_figure4_engine_trial_by_trial():
    res = deep_rank.probability(depth=[2], d0=[1, 2], ratio=[0.5], n=[6, 12, 20],
                                width=[4, 12, 40], trials=24)
    chk = res.results["fig4_check"]
    assert chk["d0"] == {"decisions": 2 * 3 * 3 * 24, "disagree": 0}
    assert chk["ratio"] == {"decisions": 3 * 3 * 24, "disagree": 0}
    p = res.column("p")
    assert p.min() < 0.5 < p.max()  # the grid crosses the threshold


def test_decisions_equal_numpy_svd_rule_at_depth_3():
    res = deep_rank.probability(depth=[3], d0=[2], n=[8, 16], width=[3, 6], trials=12,
                                check_fig4=False)
    codes = res.arrays["code"]
    key = jax.random.key(0)  # the default seed
    for c, cell in enumerate(res.cells):
        net = models.mlp(cell["d0"], cell["d1"], 3)
        seed = runner.cell_seed("full_rank", "paper", cell["n"], cell["d0"])
        for t in range(12):
            k = runner.trial_key(key, seed, t)
            j = np.asarray(deep_rank.jacobian_fn(net, (cell["n"], cell["d0"]))(
                k, cell["n"], cell["d0"]))
            s = np.linalg.svd(j, compute_uv=False)
            full = s[cell["n"] - 1] > max(j.shape) * np.finfo(float).eps * s[0] \
                if j.shape[1] >= cell["n"] else False
            assert full == (codes[c, t] in jacobian.FULL_CODES), (cell, t)
    assert {r["depth"] for r in res.results["thresholds"]} == {3}


def test_padding_does_not_change_a_trial():
    net = models.mlp(4, 5, 3)
    key = jax.random.key(7)
    small = deep_rank.jacobian_fn(models.mlp(2, 5, 3), (6, 2))(key, 6, 2)
    big = deep_rank.jacobian_fn(net, (9, 4))(key, jnp.int32(6), jnp.int32(2))
    s_small = np.linalg.svd(np.asarray(small), compute_uv=False)
    s_big = np.linalg.svd(np.asarray(big), compute_uv=False)
    np.testing.assert_allclose(s_big[:6], s_small, rtol=1e-12)
    np.testing.assert_allclose(s_big[6:], 0, atol=1e-12 * s_small[0])
    # the Figure-4 draws: depth 2's first layer is fr.sample_trial's
    params, _, _ = fr.sample_trial(key, "paper", 6, 2, 5, sizes=(6, 4, 5),
                                   dtype=jnp.float64)
    p, _ = net.init(key, 2)
    np.testing.assert_array_equal(p["hidden"][0]["kernel"].T, params["w"])
