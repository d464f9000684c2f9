"""The report's objects: sectors and their probabilities, κ(f), condensation, the exact
minimum-norm interpolant, and the vmapped optax training loop."""

import itertools
from fractions import Fraction
from math import factorial

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnet import nets
from jaxnet.rank import theory
from jaxnet.teacher_student import measures, minnorm, teachers, train

REPORT = teachers.make("report", 3, 2)


def _circle(rng, n):
    th = rng.uniform(0, 2 * np.pi, n)
    return np.stack([np.cos(th), np.sin(th)], axis=1)


def test_eq12_bound_and_exact_sector_probability():
    p = theory.sector_probabilities(REPORT["w"])
    np.testing.assert_allclose(p, 1 / 6, rtol=0, atol=1e-15)
    assert theory.sector_bound_eq12(p, 40) == pytest.approx(
        0.8358928657646523, abs=1e-12
    )
    assert theory.sector_bound_eq12(p, 20) == 0.0
    exact = theory.prob_all_cells_at_least([Fraction(1, 6)] * 6, 40, exact=True)
    assert float(exact) == pytest.approx(
        theory.prob_all_cells_at_least(p, 40), abs=1e-13
    )
    assert float(exact) >= theory.sector_bound_eq12(p, 40)  # a union bound is a bound


def test_sector_probability_equals_enumeration():
    probs = [Fraction(1, 2), Fraction(1, 3), Fraction(1, 6)]
    for n, k in [(6, 2), (7, 1), (9, 3)]:
        brute = Fraction(0)
        for counts in itertools.product(range(n + 1), repeat=3):
            if sum(counts) == n and min(counts) >= k:
                coef = factorial(n) // np.prod([factorial(c) for c in counts])
                brute += coef * np.prod(
                    [p**c for p, c in zip(probs, counts, strict=True)]
                )
        assert theory.prob_all_cells_at_least(probs, n, k, exact=True) == brute


def test_sector_counts():
    rng = np.random.default_rng(0)
    x = _circle(rng, 500)
    counts = theory.sector_counts(REPORT["w"], x)
    assert counts.sum() == 500 and len(counts) == 6
    # a point just inside each sector lands in it
    cuts = theory.teacher_sectors(REPORT["w"])
    mids = cuts + np.pi / 6
    one = theory.sector_counts(REPORT["w"], np.stack([np.cos(mids), np.sin(mids)], 1))
    np.testing.assert_array_equal(one, np.ones(6))


def test_kappa_remark_4_3():
    rng = np.random.default_rng(1)
    single = {"w": np.array([[0.6, -1.3]]), "v": np.array([-2.0])}
    assert measures.kappa(single) == pytest.approx(
        2 * 2.0 * np.hypot(0.6, 1.3), rel=1e-14
    )
    assert measures.kappa(REPORT) == pytest.approx(6.0, rel=1e-14)  # 2 m0
    for _ in range(20):
        f1 = {"w": rng.standard_normal((4, 2)), "v": rng.standard_normal(4)}
        f2 = {"w": rng.standard_normal((3, 2)), "v": rng.standard_normal(3)}
        both = {k: np.concatenate([f1[k], f2[k]]) for k in f1}
        assert measures.kappa(both) <= measures.kappa(f1) + measures.kappa(f2) + 1e-12
        assert measures.kappa(f1) <= 2 * measures.neuron_mass(f1).sum() + 1e-12
    # a neuron and its negation cancel: no jump at all
    canc = {"w": np.array([[1.0, 0.0], [1.0, 0.0]]), "v": np.array([1.0, -1.0])}
    assert measures.kappa(canc) == pytest.approx(0.0, abs=1e-15)


def test_kappa_against_finite_differences():
    rng = np.random.default_rng(2)
    f = {"w": rng.standard_normal((5, 2)), "v": rng.standard_normal(5)}
    t = np.linspace(0, 2 * np.pi, 200_001)
    x = np.stack([np.cos(t), np.sin(t)], axis=1)
    active = (x @ f["w"].T > 0).astype(float)
    grad = active @ (f["v"][:, None] * f["w"])  # ∇f on the circle, exactly per point
    jumps = np.linalg.norm(np.diff(grad, axis=0), axis=1)
    assert jumps.sum() == pytest.approx(measures.kappa(f), rel=1e-9)


def test_condensation_metrics():
    split = {
        "w": np.concatenate([REPORT["w"], 0.5 * REPORT["w"][:1]]),
        "v": np.concatenate([REPORT["v"] * np.array([0.5, 1, 1]), [1.0]]),
    }
    c = measures.condensation(split, REPORT["w"])
    assert c.condensed and c.stray_mass == 0
    np.testing.assert_allclose(c.group_mass, 1.0, rtol=0, atol=1e-14)  # Prop 4.2
    assert measures.function_distance(split, REPORT) < 1e-12
    tilt = {
        "w": REPORT["w"]
        @ np.array([[np.cos(0.2), np.sin(0.2)], [-np.sin(0.2), np.cos(0.2)]]),
        "v": REPORT["v"],
    }
    assert not measures.condensation(tilt, REPORT["w"]).condensed
    assert measures.squared_norm(REPORT) == pytest.approx(6.0)


def test_patterns_are_complete():
    rng = np.random.default_rng(3)
    x = _circle(rng, 11)
    assert len(minnorm.patterns_2d(x)) == 22 == theory.prop5_rows(11, 2)
    z = rng.standard_normal((9, 3))
    pats = minnorm.sample_patterns(z, rng)
    full = minnorm.enumerate_patterns(z)
    assert pats.complete and len(full) == theory.prop5_rows(9, 3)
    sampled = np.unique(rng.standard_normal((100_000, 3)) @ z.T > 0, axis=0)
    assert {tuple(r) for r in sampled} <= {tuple(r) for r in full}


def test_exact_min_norm_recovers_the_teacher_under_theorem_5_2():
    rng = np.random.default_rng(4)
    checked = 0
    while checked < 3:
        x = _circle(rng, 30)
        if theory.sector_counts(REPORT["w"], x).min() < 3:
            continue
        y = measures.evaluate(REPORT, x)
        sol = minnorm.min_norm_interpolant(x, y)  # the 2-D form, through sector rays
        ref = minnorm.min_norm_interpolant(x, y, minnorm.patterns_2d(x))  # general form
        assert sol.status == ref.status == minnorm.OPTIMAL
        assert sol.opt == pytest.approx(ref.opt, abs=1e-5)
        assert sol.sq_norm == pytest.approx(6.0, abs=1e-5)  # 2 m0
        # interpolates to the solver tolerance (1e-7 gaps, ~1e-6 residuals)
        np.testing.assert_allclose(
            measures.evaluate(sol.params, x), y, rtol=0, atol=1e-5
        )
        assert measures.condensation(sol.params, REPORT["w"], angle_tol=1e-3).condensed
        assert measures.function_distance(sol.params, REPORT) < 1e-4
        checked += 1


def test_min_norm_of_a_single_neuron_is_its_mass():
    # y from one neuron a σ(<b, x>) with |a| ||b|| = 2: OPT = 2 with enough points.
    rng = np.random.default_rng(5)
    x = _circle(rng, 25)
    one = {"w": np.array([[0.0, 4.0]]), "v": np.array([0.5])}
    sol = minnorm.min_norm_interpolant(
        x, measures.evaluate(one, x), minnorm.patterns_2d(x)
    )
    assert sol.status == minnorm.OPTIMAL and sol.opt == pytest.approx(2.0, abs=1e-5)


@pytest.mark.slow
def test_vmapped_training_equals_single_runs_and_descends():
    cfg = train.TrainConfig(width=12, steps=400, batch=4, log_every=100, stages=2)
    keys = jax.random.split(jax.random.key(0), 3)
    x = jnp.asarray(np.stack([_circle(np.random.default_rng(i), 10) for i in range(3)]))
    teacher = {k: jnp.asarray(v) for k, v in REPORT.items()}
    y = jax.vmap(lambda xx: nets.apply_batch(teacher, xx))(x)
    lr, lam, lamf = (
        jnp.array([0.1, 0.2, 0.1]),
        jnp.array([1e-2, 1e-2, 1e-3]),
        jnp.array([1e-3, 1e-3, 1e-3]),
    )
    params, trace = train.train_batch(keys, x, y, lr, lam, lamf, cfg)
    for r in range(3):
        p1, t1 = train.train(keys[r], x[r], y[r], lr[r], lam[r], lamf[r], cfg)
        np.testing.assert_allclose(params["w"][r], p1["w"], rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(trace.loss[r], t1.loss, rtol=1e-12, atol=1e-14)
    assert (trace.loss[:, -1] < trace.loss[:, 0]).all()
    np.testing.assert_allclose(trace.lam[0], [1e-2, 1e-2, 1e-3, 1e-3], rtol=1e-12)
    with pytest.raises(ValueError, match="multiple"):
        train.train(keys[0], x[0], y[0], 0.1, 1e-2, 1e-3, cfg._replace(steps=450))


def test_bias_free_network_and_teachers():
    x = np.array([[1.0, 0.0], [0.0, 1.0], [-0.5, 0.5]])
    f = nets.apply_batch({k: jnp.asarray(v) for k, v in REPORT.items()}, jnp.asarray(x))
    np.testing.assert_allclose(f, measures.evaluate(REPORT, x), rtol=1e-15)
    # The report's teacher: b*_j at 0, 120, 240 degrees, a*_j = +1.
    ang = 2 * np.pi * np.arange(3) / 3
    np.testing.assert_allclose(
        REPORT["w"], np.stack([np.cos(ang), np.sin(ang)], 1), rtol=0, atol=1e-15
    )
    np.testing.assert_array_equal(teachers.make("mixed", 4, 2)["v"], [1, -1, 1, -1])
    t = teachers.make("random", 4, 3, np.random.default_rng(1))
    np.testing.assert_allclose(np.linalg.norm(t["w"], axis=1), 1.0, rtol=1e-14)
    assert set(np.unique(t["v"])) <= {-1.0, 1.0}
    with pytest.raises(ValueError, match="exists only in d in"):
        teachers.make("report", 3, 3)
    with pytest.raises(ValueError, match="rng: teacher 'random' is random"):
        teachers.make("random", 3, 3)
