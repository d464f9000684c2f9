"""Gradient descent (jaxnet.experiments.gradient_descent): from a full-rank,
well-conditioned start GD reaches zero loss; the Lemma-1 bookkeeping; Gaussian-init
regions (init_regions) as one call."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnet import models
from jaxnet.experiments import gradient_descent, init_regions


@pytest.mark.slow
def test_gd_from_a_full_rank_start_reaches_zero_loss():
    # d0 = 5, n = 8, d1 = 40: P = 240 >> n; every start has a full-rank Jacobian
    cfg = gradient_descent.Config(
        d0=(5,), n=(8,), d1=(40,), trials=8, steps=20000, loss_tol=1e-10, gm_regions=0
    )
    one = gradient_descent.device_fn(models.mlp(5, 40, 2), (8, 5), cfg)
    cell = {"n": jnp.int32(8), "d0": jnp.int32(5), "n_params": jnp.int32(240)}
    keys = jax.vmap(lambda t: jax.random.fold_in(jax.random.key(3), t))(jnp.arange(8))
    out = jax.tree.map(np.asarray, jax.jit(jax.vmap(lambda k: one(k, cell)))(keys))
    start = out["full0"] & (out["s_ratio0"] > 1e-3)
    assert start.sum() >= 6
    assert np.all(out["loss"][start] <= 1e-10)  # relative to the zero function's loss
    assert np.all(out["loss0"] > 1e-3)
    np.testing.assert_array_less(out["grad_err"], 1e-12)  # autodiff grad = J^T r / n


@pytest.mark.slow
def test_outcomes_and_lemma1_bookkeeping():
    res = gradient_descent.train(
        d0=[1, 5], n=[6, 20], d1=[8, 60], trials=12, steps=2000, gm_regions=4
    )
    for c in res.cells:
        assert sum(c["outcomes"].values()) == c["trials"] == 12
        assert c["gradient_bound_violations"] == 0
        assert c["max_grad_err"] < 1e-8
        assert c["outcomes"]["diverged"] == 0
    out = res.arrays
    code = out["outcome"]
    # Lemma 1: a full-rank end point that is critical has s_n/s_1 <= g_rel <= grad_tol
    crit_full = code == gradient_descent.OUTCOMES.index("critical_full")
    assert np.all(out["s_ratio"][crit_full] <= 1e-6)
    reached = code == 0
    assert reached.any() and (~reached).any()
    assert len(res.results["global_minima_cells"]) == len(res.cells)
    assert set(res.plot()) == {"gd_boundaries.png", "gd_losses.png"}


def test_init_regions_one_call():
    res = init_regions.probability(
        d0=[1, 2], n=[6, 12], d1=[20], trials=10, check_mc=5, mc_samples=50_000
    )
    for c in res.cells:
        for pop in ("gauss", "uniform"):
            b = c[pop]
            assert b["yes"] + b["no"] + b["failed"] == 10
        assert c["mc_missed"] == 0 and c["mc_checked"] == 2
        # a Gaussian unit favours large cones: sum mu^2 >= 1/K (Cauchy-Schwarz)
        assert c["gauss_over_uniform_cone_measure"] >= 1 - 1e-12
    assert set(res.plot()) == {"init_regions.png"}


@pytest.mark.slow
def test_further_claims_from_small_runs():
    from jaxnet import claims
    from jaxnet.experiments import deep_rank

    none = claims.claims_further({})
    assert [row[4] for row in none] == ["not tested"] * 3
    runs = {
        "deep_rank": deep_rank.probability(
            depth=[2, 3], d0=[2], n=[6, 12], width=[3, 8], trials=10
        ).results,
        "gradient_descent": gradient_descent.train(
            d0=[2], n=[6], d1=[10], trials=6, steps=500, gm_regions=0
        ).results,
        "init_regions": init_regions.probability(
            d0=[1], n=[6], d1=[10], trials=6
        ).results,
    }
    rows = claims.claims_further(runs)
    verdicts = [row[4] for row in rows]
    assert verdicts[:3] == ["beyond the documents"] * 3
    assert verdicts[3] in ("reproduced", "not tested at this scale")  # Lemma 1
    assert verdicts[4:] == ["consistent", "beyond the documents"]
    assert "0 disagreements" in rows[1][2]
