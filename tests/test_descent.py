"""``jaxnet.regions.descent``: gradient flow's closed form on a region or face, the
certificate that it stays there, and runs to their end, against independent
references (matrix exponentials, dense evaluation of the path, explicit GD)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg

from jaxnet.regions import descent


def _net(key, n, d0, m, *, bias=0.0):
    kx, kw, kv = jax.random.split(key, 3)
    xs = jax.random.uniform(kx, (n, d0), minval=-1.0, maxval=1.0)
    theta = jax.random.normal(kw, (m, d0 + 1)) + jnp.zeros((1, d0 + 1)).at[0, -1].set(
        bias
    )
    v = jax.random.normal(kv, (m,))
    xt = jnp.concatenate([xs, jnp.ones((n, 1))], axis=1)
    return descent.Unrolled(theta, v, xt)


def _rtol(n, p):
    return max(n, p) * np.finfo(np.float64).eps


_tail = jax.jit(descent.tail)


def _flow(cf, ks):
    """θ of the closed form at the times ``ks`` (units of τ; NumPy, ``(K, m, D+1)``)."""
    mu = np.asarray(cf["mu"])
    ks = np.atleast_1d(ks)[:, None]
    w = np.where(mu > 0, -np.expm1(-ks * mu), 0.0)
    theta = np.asarray(cf["theta"])
    moves = (w * np.asarray(cf["coef"])) @ np.asarray(cf["vmat"]).T
    return theta[None] - moves.reshape(-1, *theta.shape)


def test_closed_form_is_the_flow_of_the_region(key):
    """Inside a region, the closed form's residual equals exp(−JJᵀt/n)·r₀ (a matrix
    exponential, scipy) and its θ equals θ₀ − Jᵀ(JJᵀ)⁻¹(I − e^{−JJᵀt/n})r₀ (J of
    full row rank), to 1e-9 relative."""
    n, d0, m = 6, 2, 10
    net = _net(key, n, d0, m)
    y = jax.random.normal(jax.random.fold_in(key, 1), (n,))
    mask = jnp.ones(n)
    face = jnp.zeros((m, n), bool)
    cf = _tail(net.theta, face, net.v, net.xt, y, mask, n, _rtol(n, 30))
    j = np.asarray(descent.region_jacobian(net.theta, net.v, net.xt, mask))
    r0 = j @ np.asarray(net.theta).ravel() - np.asarray(y)
    gram = j @ j.T
    assert np.linalg.matrix_rank(j) == n
    for k in (0.5, 3.0, 40.0):
        t = k * float(cf["tau"])
        decay = scipy.linalg.expm(-gram * t / n)
        theta_k = _flow(cf, k)[0].ravel()
        want = np.asarray(net.theta).ravel() - j.T @ np.linalg.solve(
            gram, r0 - decay @ r0
        )
        np.testing.assert_allclose(theta_k, want, rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(j @ theta_k - np.asarray(y), decay @ r0, atol=1e-9)


def test_certificate_is_sound_and_not_vacuous(key):
    """Up to the certified horizon no pre-activation changes sign along the closed
    form (checked densely, 4000 times); and the first sign change of the closed form
    (found densely) lies beyond the horizon, in the interval the certificate flags."""
    n, d0, m = 8, 2, 12
    found_crossing = 0
    for t in range(6):
        k = jax.random.fold_in(key, t)
        net = _net(k, n, d0, m)
        y = 3 * jax.random.normal(jax.random.fold_in(k, 1), (n,))
        mask = jnp.ones(n)
        cf = _tail(
            net.theta, jnp.zeros((m, n), bool), net.v, net.xt, y, mask, n, _rtol(n, 36)
        )
        idx = int(
            descent.certified_until(cf["value0"], cf["coefs"], cf["valid"], cf["mu"])
        )
        ks = descent.HORIZONS + (np.inf,)
        top = ks[min(idx, len(ks) - 2) + 1]
        grid = np.geomspace(1e-4, min(top, 1e8), 4000)
        z0 = np.sign(np.asarray(net.theta @ net.xt.T))
        signs = np.sign(_flow(cf, grid) @ np.asarray(net.xt).T)
        changed = np.any(signs != z0, axis=(1, 2))
        safe = ks[idx]
        assert not changed[grid <= safe].any()
        if changed.any():
            found_crossing += 1
            assert idx < len(descent.HORIZONS)
            assert grid[np.argmax(changed)] > safe
    assert found_crossing >= 1  # the instances include flows that leave their region


def test_full_rank_start_reaches_zero_loss():
    """A start whose Jacobian has full rank (units with breakpoints between the three
    points, margins much larger than the flow's movement) is REACHED in closed form at
    the first event, with L at most the target."""
    n = 3
    mask = jnp.ones(n)
    # full rank needs patterns that differ: units on for x > a only
    xs = jnp.array([[-0.8], [0.0], [0.8]])
    xt = jnp.concatenate([xs, jnp.ones((3, 1))], axis=1)
    theta = jnp.array([[10.0, 9.0], [10.0, -4.0], [-10.0, -4.0], [1.0, 20.0]])
    v = jnp.array([1.0, 1.0, 1.0, 1.0])
    f0 = jnp.maximum(theta @ xt.T, 0.0).T @ v
    y = f0 + jnp.array([0.05, -0.03, 0.02])
    j = descent.region_jacobian(theta, v, xt, mask)
    assert np.linalg.matrix_rank(np.asarray(j)) == n
    target = 1e-12
    out = descent.descend(
        descent.Unrolled(theta, v, xt),
        y,
        mask,
        n,
        8,
        lr=1.0,
        loss_target=target,
        events=5,
        segment=10,
    )
    assert int(out.status) == descent.REACHED
    assert float(out.loss) <= target * (1 + 1e-9)
    assert int(out.events) == 1 and int(out.explicit) == 0  # decided in closed form


@pytest.mark.parametrize(("n", "m"), [(4, 6), (6, 2)])  # P = 12 ≥ n; P = 4 < n
def test_rank_deficient_critical_point_is_a_certified_limit(key, n, m):
    """Every unit on for every point (d0 = 1): J has rank 2 < n, the flow stays in
    the region and converges to the least-squares point, a critical point with L > 0:
    LIMIT, with the deficiency certified and the limit's loss equal to the
    least-squares residual (1e-10), also with fewer columns than points."""
    d0 = 1
    net = _net(key, n, d0, m, bias=40.0)
    y = jnp.array([1.0, -1.0] * (n // 2))
    mask = jnp.ones(n)
    out = descent.descend(
        net, y, mask, n, 2 * m, lr=1.0, loss_target=1e-8, events=5, segment=10
    )
    assert int(out.status) == descent.LIMIT
    j = np.asarray(descent.region_jacobian(out.theta, net.v, net.xt, mask))
    r = j @ np.asarray(out.theta).ravel() - np.asarray(y)
    q, _ = np.linalg.qr(j[:, :2] if np.linalg.matrix_rank(j[:, :2]) == 2 else j)
    ls = np.asarray(y) - q @ (q.T @ np.asarray(y))  # residual of the best fit a·x̃
    np.testing.assert_allclose(float(out.loss), 0.5 * ls @ ls / n, rtol=1e-10)
    np.testing.assert_allclose(np.abs(j.T @ r).max(), 0.0, atol=1e-10)
    cert, _ = jax.jit(descent.deficiency_certificate, static_argnums=(4, 5))(
        out.theta, net.v, net.xt, mask, n, d0, _rtol(n, 2 * m)
    )
    assert bool(cert)


@pytest.mark.slow
def test_descend_is_the_same_alone_or_mapped(key):
    """A run's end does not depend on the runs beside it (``lax.map`` over 3 starts
    against each alone): bit-identical."""
    n, d0, m = 6, 2, 8
    nets = [_net(jax.random.fold_in(key, t), n, d0, m) for t in range(3)]
    y = jax.random.normal(key, (n,))
    mask = jnp.ones(n)

    def run(theta, v, xt):
        return descent.descend(
            descent.Unrolled(theta, v, xt),
            y,
            mask,
            n,
            24,
            lr=1.0,
            loss_target=1e-6,
            events=8,
            segment=20,
        )

    stacked = jax.tree.map(lambda *a: jnp.stack(a), *nets)
    both = jax.jit(lambda s: jax.lax.map(lambda t: run(*t), s))(tuple(stacked))
    for t, net in enumerate(nets):
        alone = jax.jit(run)(*net)
        for a, b in zip(alone, both, strict=True):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b)[t])


@pytest.mark.parametrize("d0", [1, 2])
def test_region_jacobian_is_autodiff(key, d0):
    """``region_jacobian`` against ``jax.jacrev`` of F(θ, x) = Σ v_i relu(θ_i·x̃), 1e-12."""
    n, m = 5, 7
    net = _net(key, n, d0, m)

    def f(theta):
        return jnp.maximum(theta @ net.xt.T, 0.0).T @ net.v

    want = jax.jacrev(f)(net.theta).reshape(n, -1)
    got = descent.region_jacobian(net.theta, net.v, net.xt, jnp.ones(n))
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), atol=1e-12)


def test_face_flow_is_the_closed_form_on_a_face(key):
    """``face_flow`` (any depth: J projected off the face's pre-activation gradients)
    against ``tail`` (depth 2: per-unit projectors) on faces of 1-3 pairs: the same
    rank by the rule, the same L(∞) and time to reach, 1e-8 relative. With 3 units
    (P = 9, rank ≤ 9 − face < n) the flow keeps a residual: L(∞) > 0."""
    n, d0 = 8, 2
    checked = []
    for t in range(6):
        m = (12, 3)[t % 2]
        p = m * (d0 + 1)
        k = jax.random.fold_in(key, t)
        net = _net(k, n, d0, m)
        y = jax.random.normal(jax.random.fold_in(k, 1), (n,))
        mask = jnp.ones(n)
        pairs = [(0, 0), (3 % m, 5), (7 % m, 2)][: t % 3 + 1]
        face = jnp.zeros((m, n), bool)
        for i, j in pairs:
            face = face.at[i, j].set(True)
        cf = _tail(net.theta, face, net.v, net.xt, y, mask, n, _rtol(n, p))
        theta = cf["theta"]  # projected onto the face
        rows = jnp.stack(
            [jnp.zeros((m, d0 + 1)).at[i].set(net.xt[j]).ravel() for i, j in pairs]
        )
        jac = descent.region_jacobian(theta, net.v, net.xt, mask, off=face)
        r = jnp.maximum(theta @ net.xt.T, 0.0).T @ net.v - y
        target = 1e-3 * float(jnp.sum(y**2)) / (2 * n)
        ff = descent.face_flow(jac, rows, r, n, p, target)
        want_limit = descent.loss_at(cf["mu"], cf["c"] ** 2, n, jnp.inf, cf["rest"])
        np.testing.assert_allclose(ff["limit"], want_limit, rtol=1e-8, atol=1e-14)
        assert int(ff["live"]) == int(jnp.sum(cf["live"]))
        want_reach = descent.first_reach(cf["mu"], cf["c"] ** 2, n, target, cf["rest"])
        np.testing.assert_allclose(
            ff["reach"] * ff["tau"], want_reach * cf["tau"], rtol=1e-8
        )
        checked.append(float(want_limit) > 1e-6 * float(jnp.sum(y**2)))
    assert checked == [False, True] * 3  # full rank reaches 0; 3 units cannot
