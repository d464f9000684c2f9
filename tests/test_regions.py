"""Activation regions: samplers, non-emptiness (LP vs zonotope), counts, Lemma 4, LPs."""

import jax.numpy as jnp
import numpy as np
import pytest

from jaxnet import data, regions
from jaxnet.rank import jacobian, theory
from jaxnet.regions import lp


def _xt(rng, n, d0):
    return np.asarray(data.append_one(jnp.asarray(rng.standard_normal((n, d0)))))


@pytest.mark.parametrize("n,d0", [(5, 1), (6, 2), (7, 2), (6, 3)])
def test_lp_and_zonotope_agree_and_count_is_prop5(n, d0):
    rng = np.random.default_rng(n * 10 + d0)
    xt = _xt(rng, n, d0)
    rows, status = regions.nonempty_rows_lp(xt)
    rows_z, vertex = regions.zonotope_vertex_rows(xt)
    np.testing.assert_array_equal(rows, rows_z)
    assert not (status == lp.FAILED).any()
    np.testing.assert_array_equal(status == lp.YES, vertex)  # Proposition 6
    assert int(vertex.sum()) == theory.prop5_rows(n, d0 + 1)  # Proposition 5, d1 = 1
    assert theory.prop5_count(n, d0 + 1, 3) == theory.prop5_rows(n, d0 + 1) ** 3


def test_lemma8_nonempty_rows_are_the_step_vectors():
    rng = np.random.default_rng(1)
    n = 7
    x = np.sort(rng.standard_normal(n))
    xt = np.stack([x, np.ones(n)], axis=1)
    rows, status = regions.nonempty_rows_lp(xt)
    np.testing.assert_array_equal(status == lp.YES, regions.is_step(rows))
    steps = regions.step_vectors(n)
    assert len(steps) == 2 * n == len(np.unique(steps, axis=0))
    assert regions.is_step(steps).all()
    assert theory.lemma8_count(n, 3) == theory.prop5_count(n, 2, 3) == (2 * n) ** 3


def test_samplers():
    rng = np.random.default_rng(2)
    steps = regions.sample_steps(rng, 4000, 5)
    _, counts = np.unique(steps, axis=0, return_counts=True)
    assert len(counts) == 10  # all 2n step vectors occur...
    # ...uniformly: chi-square with 9 dof, 99.9% quantile 27.88
    assert np.sum((counts - 400) ** 2 / 400) < 27.88
    xt = _xt(rng, 9, 2)
    pat = regions.sample_from_init(rng, xt, 6)
    assert lp.region_nonempty(xt, pat)[0] == lp.YES  # an init's region is non-empty
    uni = regions.sample_uniform(rng, 200, 50)
    assert abs(uni.mean() - 0.5) < 4 * 0.5 / np.sqrt(uni.size)


def test_lemma4_rank_does_not_depend_on_v():
    rng = np.random.default_rng(3)
    for _ in range(20):
        n, d0, d1 = 8, 2, rng.integers(2, 6)
        xt = _xt(rng, n, d0)
        pat = regions.sample_uniform(rng, d1, n)
        v = rng.standard_normal(d1) * rng.choice([-1, 1], d1)
        r_v = np.linalg.matrix_rank(np.asarray(regions.jacobian_in_region(pat, xt, v)))
        r_1 = np.linalg.matrix_rank(np.asarray(regions.jacobian_in_region(pat, xt)))
        assert r_v == r_1


def test_region_jacobian_is_the_network_jacobian():
    """Inside S_X^A, ∇_W F = [(v ⊙ a) ⊗ x̃] (the slides' formula, Lemma 1's setting)."""
    from jaxnet import nets

    rng = np.random.default_rng(4)
    n, d0, d1 = 6, 2, 4
    xs = rng.standard_normal((n, d0))
    params = {
        "w": jnp.asarray(rng.standard_normal((d1, d0))),
        "b": jnp.asarray(rng.standard_normal(d1)),
        "v": jnp.asarray(rng.standard_normal(d1)),
    }
    jac = jacobian.param_jacobian(params, jnp.asarray(xs), ("b", "w"))
    pat = np.asarray(nets.activation_pattern(params, jnp.asarray(xs))).T
    xt = np.asarray(data.append_one(jnp.asarray(xs)))
    ref = np.asarray(regions.jacobian_in_region(pat, xt, params["v"]))
    # ravel order: b block (d1) then w block (d1 x d0); region form: per unit (w, b)
    got = np.concatenate(
        [
            ref.reshape(n, d1, d0 + 1)[:, :, -1],
            ref.reshape(n, d1, d0 + 1)[:, :, :-1].reshape(n, -1),
        ],
        axis=1,
    )
    np.testing.assert_allclose(np.asarray(jac), got, rtol=0, atol=1e-12)


def test_global_minimum_fast_paths_agree_with_the_full_program():
    rng = np.random.default_rng(5)
    seen = {lp.YES: 0, lp.NO: 0}
    for trial in range(40):
        n = int(rng.integers(3, 12))
        d1 = int(rng.integers(2, 30))
        x = np.sort(rng.standard_normal(n))
        xt = np.stack([x, np.ones(n)], axis=1)
        pat = regions.sample_steps(rng, d1, n)
        v = np.where(np.arange(d1) < (d1 + 1) // 2, 1.0, -1.0)
        y = rng.standard_normal(n)
        full = lp.global_min_margin(xt, pat, v, y)
        cone = lp.global_min_margin_1d(x, pat, v, y)
        fast = lp.global_min_1d(x, pat, v, y)
        assert full.status != lp.FAILED and not full.borderline
        assert full.status == cone.status == fast.status, (trial, full, cone, fast)
        seen[full.status] += 1
    assert seen[lp.YES] > 0 and seen[lp.NO] > 0


def test_global_minimum_known_answers():
    x = np.array([-1.0, 0.0, 1.0])
    xt = np.stack([x, np.ones(3)], axis=1)
    # One unit active on all points, v = +1: F is affine with positive values at all
    # points is needed (w x + b > 0 everywhere): y = (1, 2, 3) yes, y = (1, -1, 1) no.
    pat = np.ones((1, 3), bool)
    assert lp.global_min_margin(xt, pat, [1.0], [1.0, 2.0, 3.0]).status == lp.YES
    assert lp.global_min_margin(xt, pat, [1.0], [1.0, -1.0, 1.0]).status == lp.NO
    # y on the boundary of the open region: F(x_1) = 0 needs w x_1 + b = 0: not open.
    assert lp.global_min_margin(xt, pat, [1.0], [0.0, 1.0, 2.0]).status == lp.NO
    assert lp.global_min_margin_1d(x, pat, [1.0], [0.0, 1.0, 2.0]).status == lp.NO


@pytest.mark.slow
def test_exact_integer_rank():
    rng = np.random.default_rng(6)
    for _ in range(50):
        n, m = rng.integers(1, 8, size=2)
        a = rng.integers(-3, 4, (n, m))
        if n > 2:
            a[2] = a[0] - 2 * a[1]  # force a dependency
        r = jacobian.integer_rank(a)
        assert r == np.linalg.matrix_rank(a.astype(float))
        assert int(jacobian.rank_mod_p(jnp.asarray(a))) == r


def test_binary_singular_enumeration_matches_oeis():
    for n, count in theory.SINGULAR_01_COUNTS.items():
        assert theory.binary_singular_count(n) == count


def test_fan_has_2n_step_regions():
    x = np.array([-1.0, 0.5, 2.0, 3.0])
    sectors = regions.fan(np.stack([x, np.ones(4)], axis=1))
    pats = np.array([s["pattern"] for s in sectors], bool)
    assert len(sectors) == 8 == len(np.unique(pats, axis=0))  # Lemma 8: 2n regions
    assert regions.is_step(pats).all()


@pytest.mark.parametrize("n", [3, 4, 6])
def test_relu_function_space_is_the_polyline_of_prop12(n):
    x = np.sort(np.random.default_rng(n).standard_normal(n))
    curve, verts, _ = regions.relu_function_curve(x, num=4000)
    assert (
        len(verts) == 2 * n - 2
    )  # breakpoints on x_1..x_{n-1} (w > 0), x_2..x_n (w < 0)
    a, b = verts[:-1], verts[1:]
    seg = b - a
    tt = np.clip(
        np.einsum("kj,sj->ks", curve, seg) - np.einsum("sj,sj->s", a, seg), 0, None
    ) / np.einsum("sj,sj->s", seg, seg)
    tt = np.clip(tt, 0, 1)
    dist = np.linalg.norm(curve[:, None, :] - (a + tt[..., None] * seg), axis=2).min(1)
    assert dist.max() < 1e-9  # every sampled function lies on the polyline


@pytest.mark.slow
def test_lemma1_critical_point_with_full_rank_jacobian_is_a_global_minimum():
    """Gradient descent on W (v fixed) of overparameterized nets reaches points with a
    vanishing gradient; at those where the Jacobian has rank n the loss is zero
    (Lemma 1: 0 = ∇L = Jᵀ(F − y) and rank J = n force F = y). (Lemma 1 says nothing
    about deficient critical points, nor about runs that have not reached one.)"""
    import jax

    from jaxnet import nets

    full_rank_seen = 0
    for seed in range(6):
        rng = np.random.default_rng(seed)
        n, d0, d1 = 8, 2, 30
        xs = jnp.asarray(rng.standard_normal((n, d0)))
        y = jnp.asarray(rng.standard_normal(n))
        params = {
            "w": jnp.asarray(rng.standard_normal((d1, d0))),
            "b": jnp.asarray(rng.standard_normal(d1)),
            "v": jnp.asarray(rng.choice([-1.0, 1.0], d1)),
        }

        def loss(wb, params=params, xs=xs, y=y):
            return 0.5 * jnp.sum((nets.apply_batch({**params, **wb}, xs) - y) ** 2)

        def step(_, wb, loss=loss):
            return jax.tree.map(lambda w, dw: w - 0.01 * dw, wb, jax.grad(loss)(wb))

        wb = jax.jit(lambda wb, step=step: jax.lax.fori_loop(0, 100_000, step, wb))(
            {"w": params["w"], "b": params["b"]}
        )
        grads = jax.tree.leaves(jax.grad(loss)(wb))
        if float(jnp.sqrt(sum(jnp.sum(g**2) for g in grads))) > 1e-8:
            continue  # not (yet) a critical point: Lemma 1 does not apply
        jac = np.asarray(jacobian.param_jacobian({**params, **wb}, xs, ("b", "w")))
        if np.linalg.matrix_rank(jac) == n:
            full_rank_seen += 1
            assert float(loss(wb)) < 1e-15
    assert full_rank_seen >= 3  # seeds 0, 3, 4, 5 here
