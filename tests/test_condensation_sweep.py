"""The converged condensation experiment: the stopping rule, batched = single runs,
the converged student against the exact interpolant, and the verdict criterion."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnet import claims, runtime
from jaxnet.experiments import condensation_sweep
from jaxnet.teacher_student import teachers, train

jax.config.update("jax_enable_x64", True)


def _one_neuron_case(lam=1e-2, n=30):
    """Teacher f* = σ(⟨u, x⟩), a width-1 student, data symmetric about u. With
    t_j = σ(⟨u, x_j⟩) and
    m2 = mean t_j², the balanced point a = c, b = c·u with a² = 1 − λ/m2 is stationary:
    ∂J/∂a = (a² − 1)·m2·a + λa = 0 and ∂J/∂b = a·(a² − 1)·m2·u + λ·a·u = 0."""
    rng = np.random.default_rng(0)
    half = rng.uniform(0, np.pi, n // 2)
    th = np.concatenate([0.3 + half, 0.3 - half])  # symmetric about u: Σ t_j x_j ∥ u
    x = np.stack([np.cos(th), np.sin(th)], axis=1)
    u = np.array([np.cos(0.3), np.sin(0.3)])
    t = np.maximum(x @ u, 0.0)
    y = t
    m2 = np.mean(t**2)
    a = np.sqrt(1 - lam / m2)
    star = {"w": jnp.asarray((a * u)[None]), "v": jnp.asarray([a])}
    return jnp.asarray(x), jnp.asarray(y), lam, u, star


@pytest.mark.slow
def test_stopping_rule_at_a_known_stationary_point():
    x, y, lam, u, star = _one_neuron_case()
    # tolerance 1e-10: the closed form is exact up to rounding
    assert float(train.relative_gradient(star, x, y, lam)) < 1e-10
    p, st = train.until_stationary(star, x, y, lam, u[None], stop=train.Stop(every=50))
    assert bool(st.converged) and int(st.steps) == 50 and not bool(st.stalled)
    np.testing.assert_allclose(p["v"], star["v"], rtol=0, atol=1e-10)
    # From a perturbed start L-BFGS reaches the same point (tolerance 1e-6 on the
    # parameters, the rule's grad_rtol = 1e-6 on the gradient).
    start = {"w": jnp.asarray([[0.6, 0.5]]), "v": jnp.asarray([0.7])}
    p, st = train.until_stationary(start, x, y, lam, u[None], stop=train.Stop(every=50))
    assert bool(st.converged)
    assert float(st.grad_rel) <= 1e-6
    np.testing.assert_allclose(p["w"], star["w"], rtol=0, atol=1e-6)
    np.testing.assert_allclose(p["v"], star["v"], rtol=0, atol=1e-6)
    # No kinks at the start, so the Clarke measure is the plain relative gradient
    # (NumPy against autodiff, tolerance 1e-10 relative).
    clarke, kinks = train.kink_stationarity(start, x, y, lam)
    assert kinks == 0
    np.testing.assert_allclose(
        clarke, float(train.relative_gradient(start, x, y, lam)), rtol=1e-10
    )


def test_a_run_that_cannot_meet_the_rule_is_not_converged():
    x, y, lam, u, _ = _one_neuron_case()
    start = {"w": jnp.asarray([[0.6, 0.5]]), "v": jnp.asarray([0.7])}
    _, st = train.until_stationary(
        start,
        x,
        y,
        lam,
        u[None],
        method="gd",
        lr=1e-3,
        stop=train.Stop(every=100, max_steps=300),
    )
    assert not bool(st.converged) and int(st.steps) == 300
    assert float(st.grad_rel) > 1e-6


def test_kink_stationarity_minimizes_over_the_relu_derivative():
    # One neuron b = (1, 0), a = 1; x_0 = (0, 1) lies on its boundary (a kink).
    # f = (0, 1, 0.6); residuals r = f − y = (r0, 0, −0.5), λ = 0.1, N = 3. By hand:
    # ∂J/∂a = (1/3)·(−0.5)(0.6) + λ = 0 and
    # ∂J/∂b(t) = λ(1, 0) + (−0.5/3)(0.6, 0.8) + t·(r0/3)(0, 1) = (0, −0.4/3 + t·r0/3).
    x = np.array([[0.0, 1.0], [1.0, 0.0], [0.6, 0.8]])
    params = {"w": np.array([[1.0, 0.0]]), "v": np.array([1.0])}
    lam, theta = 0.1, np.sqrt(2.0)
    f = np.array([0.0, 1.0, 0.6])
    # r0 = 0.8: t = 1/2 in [0, 1] zeroes the gradient: Clarke-stationary (to rounding)
    clarke, kinks = train.kink_stationarity(
        params, x, f - np.array([0.8, 0, -0.5]), lam
    )
    assert kinks == 1 and clarke < 1e-8  # lsq_linear solves to about 1e-10
    # r0 = −0.8: the best t is 0 and the residual gradient is (0, −0.4/3)
    clarke, _ = train.kink_stationarity(params, x, f - np.array([-0.8, 0, -0.5]), lam)
    np.testing.assert_allclose(
        clarke, (0.4 / 3) / (lam * theta), rtol=1e-8
    )  # lsq_linear
    # r0 = 0.2: t = 1 gets closest, leaving (0, −0.2/3)
    clarke, _ = train.kink_stationarity(params, x, f - np.array([0.2, 0, -0.5]), lam)
    np.testing.assert_allclose(clarke, (0.2 / 3) / (lam * theta), rtol=1e-8)


def _small_config(**kw):
    base = dict(
        N=(12,),
        lam=(1e-2, 1e-3),
        seeds=2,
        width=8,
        warmup=500,
        check_every=100,
        max_steps=3000,
        exact=False,
        check_seeds=0,
        chunk=4,
    )
    return condensation_sweep.Config(**{**base, **kw})


@pytest.mark.slow
def test_batched_sweep_equals_single_runs():
    cfg = _small_config()
    teacher = teachers.make("report", 3, 2)
    res = condensation_sweep.sweep(
        **{f.name: getattr(cfg, f.name) for f in cfg.__dataclass_fields__.values()}
    )
    fn = jax.jit(condensation_sweep.solve_fn(cfg, 12, teacher))
    base = jax.random.key(cfg.seed)
    seed_n = runtime.cell_seed(condensation_sweep.SPEC.name, 12)
    for i, lam in enumerate(cfg.lam):
        for s in range(cfg.seeds):
            one = fn(runtime.trial_key(base, seed_n, s), {"lam": jnp.asarray(lam)})
            # tolerance 1e-9: batched and single programs may round differently
            np.testing.assert_allclose(
                res.arrays["N12_w"][i, s], one["w"], rtol=0, atol=1e-9
            )
            np.testing.assert_allclose(
                res.arrays["N12_v"][i, s], one["v"], rtol=0, atol=1e-9
            )
            assert res.arrays["N12_steps"][i, s] == one["steps"]
    # every λ of a seed saw the same data (trial keys hash N, not λ)
    assert res.arrays["N12_x"].shape == (2, 12, 2)


@pytest.mark.slow
def test_sweep_does_not_depend_on_chunk_or_device_count(monkeypatch):
    """Bit for bit: runs go one after another on a device (``lax.map``), so neither the
    chunk nor the number of devices changes a rounding."""
    cfg = dataclasses.asdict(
        _small_config(seeds=3, check_seeds=1, gd_steps=400, gd_log=100, sgd_steps=1000)
    )
    del cfg["chunk"]
    four = condensation_sweep.sweep(**cfg, chunk=4)  # 4 CPU devices (conftest)
    one = condensation_sweep.sweep(**cfg, chunk=1)
    from jaxnet.runtime import device_loop, protocol

    for where in (device_loop, protocol):  # the default mesh: one device
        monkeypatch.setattr(
            where,
            "device_mesh",
            lambda devices=None: jax.sharding.Mesh(
                np.asarray(jax.devices()[:1]), ("dev",)
            ),
        )
    single = condensation_sweep.sweep(
        **cfg, chunk=3
    )  # one device, all 6 runs in two calls
    assert len(set(four.arrays["N12_steps"].ravel().tolist())) > 1
    for other in (one, single):
        for name, arr in four.arrays.items():
            np.testing.assert_array_equal(arr, other.arrays[name], err_msg=name)


@pytest.mark.slow
def test_converged_student_is_near_the_exact_interpolant_at_small_lambda():
    # The stated distance (README): at λ = 1e-4, N = 40, the converged student's RMS
    # distance on S¹ to the exact minimum-norm interpolant of the same data is below
    # 2e-3 on every converged seed (measured mean about 4e-4, i.e. ~ 4λ).
    res = condensation_sweep.sweep(N=[40], lam=[1e-4], seeds=5, check_seeds=0)
    cell = res.results["per_N"][0]["cells"][0]
    assert cell["converged"] >= 4
    dist = [r["exact_distance"] for r in cell["runs"] if r["converged"]]
    assert max(dist) < 2e-3
    assert res.results["per_N"][0]["exact"]["failed"] == 0


def _block(off, dist, lams=(1e-2, 1e-3, 1e-4)):
    cells = [
        {"lam": lam, "off_mass": {"mean": o}, "teacher_distance": {"mean": d}}
        for lam, o, d in zip(lams, off, dist, strict=True)
    ]
    fits = {
        "off_mass": condensation_sweep.power_fit(lams, off),
        "teacher_distance": condensation_sweep.power_fit(lams, dist),
    }
    return {"cells": cells, "fits": fits}


def test_condensation_limit_criterion():
    good = claims.condensation_limit(_block([0.1, 0.01, 0.001], [0.04, 0.004, 0.0004]))
    assert good["approaches_condensation"]
    # off-teacher mass that stops decreasing: not approaching condensation
    flat = claims.condensation_limit(_block([0.1, 0.05, 0.06], [0.04, 0.004, 0.0004]))
    assert not flat["off_mass_decreasing"] and not flat["approaches_condensation"]
    # a distance that grows as λ → 0: exponent below 0
    bad = claims.condensation_limit(_block([0.1, 0.01, 0.001], [0.001, 0.01, 0.1]))
    assert not bad["teacher_distance_b_above_0"]


def test_power_fit_recovers_an_exponent():
    lams = np.array([1e-2, 3e-3, 1e-3, 3e-4, 1e-4])
    fit = condensation_sweep.power_fit(lams, 3.0 * lams**0.7)
    assert fit["b"] == pytest.approx(0.7, abs=1e-12)
    assert fit["c"] == pytest.approx(3.0, rel=1e-10)


def test_mass_measures_agree_between_numpy_and_jax():
    from jaxnet.teacher_student import measures

    rng = np.random.default_rng(1)
    params = {"w": rng.standard_normal((20, 2)), "v": rng.standard_normal(20)}
    b_star = teachers.make("report", 3, 2)["w"]
    jp = {k: jnp.asarray(v) for k, v in params.items()}
    for fn in (measures.mass_weighted_angle, measures.aligned_fraction):
        # tolerance 1e-12: the same float64 formula in two array modules
        np.testing.assert_allclose(
            float(fn(jp, b_star, xp=jnp)), fn(params, b_star), rtol=1e-12
        )
    k, sign, angle = measures.alignment(params, b_star)
    kj, sj, aj = measures.alignment(jp, b_star, xp=jnp)
    assert np.array_equal(k, np.asarray(kj)) and np.array_equal(sign, np.asarray(sj))
    np.testing.assert_allclose(angle, np.asarray(aj), rtol=0, atol=1e-12)
