import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import tree_allclose

from jaxnet import data, nets
from jaxnet.rank import jacobian

WRTS = [("b", "w"), ("b", "v", "w"), ("w",), ("v",)]


def _problem(key, n=7, d=3, m=5, convention="paper"):
    k_x, k_p = jax.random.split(key)
    xs = data.gaussian(k_x, n, d)
    return nets.init_params(k_p, d, m, convention=convention), xs


@pytest.mark.parametrize("wrt", WRTS)
@pytest.mark.parametrize("convention", ["paper", "peer"])
def test_autodiff_equals_closed_form(key, wrt, convention):
    params, xs = _problem(key, convention=convention)
    j_ad = jacobian.param_jacobian(params, xs, wrt)
    j_cf = jacobian.closed_form_jacobian(params, xs, wrt)
    assert j_ad.shape == (7, jacobian.n_params(3, 5, wrt))
    tree_allclose(j_ad, j_cf)  # float64, exact identity up to rounding


def test_block_slices_match_closed_form_blocks(key):
    params, xs = _problem(key)
    jac = jacobian.closed_form_jacobian(params, xs, ("b", "v", "w"))
    sl = jacobian.block_slices(params, ("w", "v", "b"))
    pre = nets.preactivations(params, xs)
    tree_allclose(jac[:, sl["v"]], jax.nn.relu(pre))
    tree_allclose(jac[:, sl["b"]], (pre > 0) * params["v"][None, :])


@pytest.mark.parametrize("wrt", WRTS)
def test_gram_equals_jjt(key, wrt):
    params, xs = _problem(key)
    jac = jacobian.closed_form_jacobian(params, xs, wrt)
    tree_allclose(jacobian.gram(params, xs, wrt), jac @ jac.T, rtol=1e-12, atol=1e-12)


def test_matrix_rank_matches_numpy(key):
    params, xs = _problem(key, n=12, d=1, m=4)
    jac = jacobian.param_jacobian(params, xs, ("b", "w"))
    res = jacobian.matrix_rank(jac)
    assert int(res.rank) == np.linalg.matrix_rank(np.asarray(jac))
    assert int(res.rank) <= min(jac.shape)


def test_all_active_network_is_locally_linear(key):
    # Every unit active on every sample: J = [v_i x̃_j]_i has rank min(n, d + 1).
    params, xs = _problem(key, n=9, d=3, m=6)
    params = {**params, "b": jnp.full((6,), 100.0)}
    res = jacobian.matrix_rank(jacobian.param_jacobian(params, xs, ("b", "w")))
    assert int(res.rank) == 4


@pytest.mark.slow
def test_rank_invariant_under_permutation_and_rescaling(key):
    params, xs = _problem(key, n=10, d=2, m=6)
    perm = jax.random.permutation(key, 6)
    c = jnp.linspace(0.5, 3.0, 6)
    moved = {
        "w": params["w"][perm] * c[:, None],
        "b": params["b"][perm] * c,
        "v": params["v"][perm] / c,
    }
    tree_allclose(
        nets.apply_batch(moved, xs),
        nets.apply_batch(params, xs),
        rtol=1e-12,
        atol=1e-12,
    )
    for wrt in WRTS:
        r0 = jacobian.matrix_rank(jacobian.param_jacobian(params, xs, wrt)).rank
        r1 = jacobian.matrix_rank(jacobian.param_jacobian(moved, xs, wrt)).rank
        assert int(r0) == int(r1)


@pytest.mark.slow
def test_certificate_agrees_with_svd_of_autodiff_jacobian(key):
    # Fast path vs plain SVD of the autodiff Jacobian on instances on both sides of
    # full rank (1-D data, widths from far too few units to plenty).
    agree = certified = 0
    for i, (n, m) in enumerate(
        [(6, 2), (6, 4), (8, 6), (10, 30), (5, 40), (12, 12)] * 4
    ):
        k = jax.random.fold_in(key, i)
        params, xs = _problem(k, n=n, d=1, m=m)
        for wrt, rule in [(("b", "w"), "float64"), (("b", "v", "w"), "float32")]:
            jac = jacobian.param_jacobian(params, xs, wrt)
            rtol = float(jacobian.default_rtol(n, jac.shape[1], np.dtype(rule)))
            full_svd = int(jacobian.matrix_rank(jac, rtol).rank) == n
            cert = jacobian.full_rank_certificate(
                jacobian.gram(params, xs, wrt), n, jac.shape[1], rtol
            )
            code = int(cert.code)
            if code == jacobian.AMBIGUOUS:
                continue
            certified += 1
            agree += (code == jacobian.GRAM_FULL) == full_svd
    assert certified >= 24
    assert agree == certified


def test_certificate_flags_zero_rows_and_too_few_params(key):
    params, xs = _problem(key, n=6, d=1, m=3)
    dead = {**params, "b": jnp.full((3,), -1e3)}  # no unit active anywhere
    g = jacobian.gram(dead, xs, ("b", "w"))
    assert int(jacobian.full_rank_certificate(g, 6, 6, 1e-10).code) == jacobian.ZERO_ROW
    g = jacobian.gram(params, xs, ("b", "w"))
    assert int(jacobian.full_rank_certificate(g, 6, 5, 1e-10).code) == jacobian.P_LT_N


def test_bad_wrt_is_rejected(key):
    params, xs = _problem(key)
    with pytest.raises(ValueError, match="wrt"):
        jacobian.param_jacobian(params, xs, ("u",))


@pytest.mark.parametrize("d", [1, 3])
@pytest.mark.parametrize("convention", ["paper", "peer"])
@pytest.mark.slow
def test_gram_by_width_equals_products_of_cut_jacobians(key, convention, d):
    """G(w) of the first w units = J_w J_wᵀ, J_w the closed-form Jacobian's columns of
    those units; for d = 1 this checks the O(n·m) monotone-activation form."""
    k_p, k_x = jax.random.split(key)
    params = nets.init_params(k_p, d, 40, convention=convention)
    params["w"] = params["w"].at[3, 0].set(0.0)  # a unit constant in x_0
    xs = data.gaussian(k_x, 25, d)
    xs = xs.at[4].set(xs[9])  # a tie
    mask = jnp.arange(25) < 21
    wrt = nets.get_convention(convention).wrt
    widths = (1, 7, 8, 30, 40)
    got = jacobian.gram_by_width(params, xs, wrt, widths, row_mask=mask)
    assert got.shape == (len(widths), 25, 25)
    for k, w in enumerate(widths):
        cut = {name: a[:w] for name, a in params.items()}
        jac = jacobian.closed_form_jacobian(cut, xs, wrt) * mask[:, None]
        ref = jac @ jac.T
        scale = float(jnp.max(jnp.abs(ref)))
        np.testing.assert_allclose(got[k], ref, rtol=0, atol=1e-13 * scale)
    full = jacobian.gram(
        params, xs, wrt, row_mask=mask
    )  # one block: other summation order
    np.testing.assert_allclose(full, got[-1], rtol=0, atol=1e-13 * float(jnp.max(full)))
    with pytest.raises(ValueError, match="widths"):
        jacobian.gram_by_width(params, xs, wrt, (7, 7))


def test_eigenvalue_decision_agrees_with_svd_or_abstains():
    """``decide_by_eigenvalues`` on J with s_n/s_1 placed around a float32-size rtol:
    every decision it makes is the SVD rule's; it abstains only within its error bound."""
    rng = np.random.default_rng(0)
    n, p, rtol = 12, 40, 40 * float(np.finfo(np.float32).eps)
    decided = 0
    for factor in np.geomspace(0.5, 2.0, 41):
        u, _ = np.linalg.qr(rng.standard_normal((n, n)))
        v, _ = np.linalg.qr(rng.standard_normal((p, n)))
        s = np.geomspace(1.0, rtol * factor, n)
        jac = (u * s) @ v.T
        full, ratio = jacobian.decide_by_eigenvalues(jac @ jac.T, n, rtol)
        svd = np.linalg.svd(jac, compute_uv=False)
        # λ_n is within δ ≈ 16·n·eps·λ_1 of exact: s_n/s_1 ≈ 2e-6 to ~1e-3 relative
        np.testing.assert_allclose(ratio, svd[-1] / svd[0], rtol=1e-3)
        if full is not None:
            decided += 1
            assert full == (svd[-1] > rtol * svd[0]), factor
    assert decided >= 39  # only factors within ~1e-6 of 1 may be left undecided
    # A float64-size rtol is below the Gram's resolution: no deficiency decision.
    jac = rng.standard_normal((n, p))
    jac[-1] = jac[0]
    full, _ = jacobian.decide_by_eigenvalues(jac @ jac.T, n, 40 * 2.2e-16)
    assert full is None


def test_mod_product_is_exact_at_the_quotient_boundaries():
    """``x mod p`` without integer division equals Python's ``%`` on products of
    residues, including exact multiples of p and their neighbours."""
    rng = np.random.default_rng(3)
    for p in jacobian.PRIMES[:3]:
        a = rng.integers(0, p, 20000, dtype=np.int64)
        b = rng.integers(0, p, 20000, dtype=np.int64)
        k = rng.integers(0, p - 1, 2000, dtype=np.int64)
        edges = np.concatenate([k * p + d for d in (-1, 0, 1)])
        x = np.concatenate([a * b, edges[edges >= 0], [0, (p - 1) ** 2, p * (p - 2)]])
        got = np.asarray(jax.jit(lambda v, p=p: jacobian._mod_product(v, p))(x))
        want = np.array([int(v) % p for v in x.tolist()])
        np.testing.assert_array_equal(got, want)  # exact: integers


@pytest.mark.slow
def test_rank_mod_p_equals_exact_integer_rank():
    """Gauss–Jordan over Z/p against fraction-free elimination over Q, on integer
    matrices of known rank (products of random factors) with entries up to 2^30."""
    rng = np.random.default_rng(4)
    for n, m, r in [(12, 12, 12), (12, 12, 7), (9, 15, 5), (15, 9, 9), (10, 10, 0)]:
        f = rng.integers(-(1 << 14), 1 << 14, (n, r), dtype=np.int64)
        g = rng.integers(-(1 << 14), 1 << 14, (r, m), dtype=np.int64)
        mat = f @ g if r else np.zeros((n, m), np.int64)
        want = jacobian.integer_rank(mat)
        assert want == r
        for p in jacobian.PRIMES[:2]:
            assert int(jacobian.rank_mod_p(jnp.asarray(mat), p)) == want
