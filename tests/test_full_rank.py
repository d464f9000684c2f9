import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnet import nets, runtime
from jaxnet.experiments import full_rank
from jaxnet.rank import exact, fig4, jacobian
from jaxnet.runtime import io

GRID = dict(d0_values=(1, 2), n_values=(4, 8), d1_values=(2, 6))


def _sweep(
    convention,
    *,
    trials=6,
    chunk=4,
    mesh=None,
    checkpoint_dir=None,
    cholesky=None,
    max_buckets=8,
    exact_trials=0,
    **grid_kw,
):
    rank_dtype = nets.get_convention(convention).rank_dtype
    grid = full_rank.make_grid(convention, rank_dtype=rank_dtype, **{**GRID, **grid_kw})
    key = jax.random.key(3)
    ctx = runtime.Context.detached("full_rank", None, base_key=key)
    if checkpoint_dir is not None:  # the runner's context: checkpoints in that folder
        ctx = runtime.Context(
            "full_rank",
            full_rank.Config(convention=convention, trials=trials, seed=3),
            runtime.Options(checkpoint_every=0.0, progress=False, stall_timeout=0.0),
            checkpoint_dir,
        )
        # its key: key(3), from its config's seed
    out = full_rank.run_grid(
        convention,
        grid,
        trials,
        ctx=ctx,
        chunk=chunk,
        rank_dtype=rank_dtype,
        mesh=mesh,
        cholesky=cholesky,
        max_buckets=max_buckets,
        exact_trials=exact_trials,
    )
    return grid, full_rank.grid_seeds(convention, grid), rank_dtype, key, out


def test_ratio_d0_is_exact():
    assert full_rank.ratio_d0(0.1, 30) == 3
    assert full_rank.ratio_d0(0.25, 10) == 3
    assert full_rank.ratio_d0(2, 190) == 380


def test_padded_trial_equals_unpadded_trial(key):
    kw = dict(dtype=jnp.float64)
    p_big, x_big, m_big = full_rank.sample_trial(
        key, "peer", 5, 2, 3, sizes=(9, 4, 7), **kw
    )
    p, x, m = full_rank.sample_trial(key, "peer", 5, 2, 3, sizes=(5, 2, 3), **kw)
    np.testing.assert_array_equal(np.asarray(x_big)[:5, :2], x)
    np.testing.assert_array_equal(np.asarray(p_big["w"])[:3, :2], p["w"])
    assert not np.asarray(x_big)[5:].any() and not np.asarray(p_big["v"])[3:].any()
    g_big = jacobian.gram(p_big, x_big, ("b", "v", "w"), row_mask=m_big)
    g = jacobian.gram(p, x, ("b", "v", "w"), row_mask=m)
    np.testing.assert_allclose(np.asarray(g_big)[:5, :5], g, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("convention", ["paper", "peer"])
@pytest.mark.slow
def test_every_sweep_decision_equals_svd_of_autodiff_jacobian(convention):
    grid, seeds, rank_dtype, key, out = _sweep(convention, exact_trials=6)
    wrt = nets.get_convention(convention).wrt
    n_full = 0
    for c in range(len(grid.n)):
        n, d0, d1 = int(grid.n[c]), int(grid.d0[c]), int(grid.d1[c])
        for t in range(out["code"].shape[1]):
            k = runtime.trial_key(key, seeds[c], t)
            params, xs, _ = full_rank.sample_trial(
                k, convention, n, d0, d1, sizes=(n, d0, d1), dtype=jnp.dtype(rank_dtype)
            )
            params = jax.tree.map(lambda a: a.astype(jnp.float64), params)
            jac = np.asarray(
                jacobian.param_jacobian(params, xs.astype(jnp.float64), wrt)
            )
            full = np.linalg.matrix_rank(jac, rtol=float(grid.rtol[c])) == n
            assert full == (out["code"][c, t] in jacobian.FULL_CODES), (c, t)
            n_full += full
            # The exact generic rank (mod p, integer data, the trial's pattern) is the
            # real J's rank: these small Jacobians are far from the float threshold.
            if jac.shape[1] >= n:
                assert out["exact_rank"][c, t] == np.linalg.matrix_rank(jac), (c, t)
    assert 0 < n_full < out["code"].size  # both outcomes occur on this grid


@pytest.fixture
def sphere_convention():
    """A convention the package does not ship: paper init, data on the unit sphere."""
    conv = nets.register_convention(
        nets.Convention(
            "test-sphere", "sphere", nets.gaussian_init, ("b", "w"), "float64"
        )
    )
    yield conv
    del nets.CONVENTIONS[conv.name]


@pytest.mark.slow
def test_a_registered_convention_runs_end_to_end(sphere_convention, tmp_path):
    # Registered from outside: accepted by the Config, the sampler and the sweep, and
    # its decisions are still NumPy's SVD rule on its own draws.
    res = full_rank.probability(
        convention="test-sphere",
        d0=[2, 3],
        n=[4, 8],
        d1=[2, 6],
        trials=5,
        seed=1,
        out=tmp_path / "run",
    )
    codes = res.arrays["d0_code"]
    cells = res.results["cells"]
    key = jax.random.key(1)
    for c, cell in enumerate(cells):
        n, d0, d1 = cell["n"], cell["d0"], cell["d1"]
        seed = runtime.cell_seed("full_rank", "test-sphere", n, d0)
        for t in range(5):
            params, xs, _ = full_rank.sample_trial(
                runtime.trial_key(key, seed, t),
                "test-sphere",
                n,
                d0,
                d1,
                sizes=(n, d0 + 1, d1),
                dtype=jnp.float64,
            )
            np.testing.assert_allclose(np.linalg.norm(xs, axis=1), 1.0, rtol=1e-14)
            assert not np.asarray(xs)[:, d0:].any()  # padded coordinate stays zero
            jac = np.asarray(jacobian.param_jacobian(params, xs, ("b", "w")))
            rtol = max(n, d1 * (d0 + 1)) * np.finfo(np.float64).eps  # P of the cell
            assert cell["rtol"] == rtol
            full = np.linalg.matrix_rank(jac, rtol=rtol) == n  # zero column: same rank
            assert full == (codes[c, t] in jacobian.FULL_CODES), (c, t)
    # Registering the same convention again is a no-op (a re-run notebook cell); a
    # different one under a taken name is refused.
    assert nets.register_convention(sphere_convention) is nets.get_convention(
        sphere_convention.name
    )
    with pytest.raises(ValueError, match="already registered"):
        nets.register_convention(
            dataclasses.replace(sphere_convention, rank_dtype="float32")
        )
    with pytest.raises(ValueError, match="^data must be one of"):
        nets.register_convention(
            nets.Convention("x", "cauchy", nets.gaussian_init, ("w",), "float64")
        )


@pytest.mark.slow
def test_results_do_not_depend_on_chunk_or_device_count():
    one_dev = runtime.device_mesh(jax.devices()[:1])
    ref = _sweep("peer", chunk=24, mesh=one_dev, cholesky="xla")[-1]
    assert jax.device_count() == 4
    for chunk in (1, 3):
        out = _sweep("peer", chunk=chunk)[-1]  # 4 CPU devices: the XLA factorization
        np.testing.assert_array_equal(out["code"], ref["code"])
        np.testing.assert_array_equal(out["s_ratio"], ref["s_ratio"])
    # One device defaults to LAPACK's factorization: the same decisions.
    lapack = _sweep("peer", chunk=5, mesh=one_dev)[-1]
    full = lambda out: np.isin(out["code"], jacobian.FULL_CODES)  # noqa: E731
    np.testing.assert_array_equal(full(lapack), full(ref))


@pytest.mark.slow
def test_a_cell_gives_the_same_trials_in_any_grid():
    small = _sweep("paper", d0_values=(2,), n_values=(8,), d1_values=(6,))[-1]
    big = _sweep("paper")[-1]
    np.testing.assert_array_equal(small["code"][0], big["code"][-1])


_CALLS = {"n": 0}  # a global: the wrapper's closure (its part identity) stays the same


@pytest.mark.slow
def test_interrupted_sweep_resumes_to_identical_results(tmp_path, monkeypatch):
    ref = _sweep("peer", chunk=2)[-1]
    make_refine = fig4.make_refine

    def dies_after_three_blocks(*args, **kwargs):
        refine = make_refine(*args, **kwargs)

        def wrapped(*a):
            _CALLS["n"] += 1
            if _CALLS["n"] == 4:
                raise KeyboardInterrupt
            return refine(*a)

        return wrapped

    monkeypatch.setattr(fig4, "make_refine", dies_after_three_blocks)
    _CALLS["n"] = 0
    with pytest.raises(KeyboardInterrupt):
        _sweep("peer", chunk=2, checkpoint_dir=tmp_path)
    saved = list(tmp_path.glob("checkpoint-*.npz"))
    assert saved
    _CALLS["n"] = -1000  # the rerun does not die
    out = _sweep("peer", chunk=2, checkpoint_dir=tmp_path)[-1]
    np.testing.assert_array_equal(out["code"], ref["code"])
    np.testing.assert_array_equal(out["s_ratio"], ref["s_ratio"])


def test_corrupt_or_foreign_checkpoint_is_not_used(tmp_path):
    path = tmp_path / "ck.npz"
    path.write_bytes(b"not an npz")
    ck = io.Checkpoint(path, "cfg")
    assert ck.load() is None and "unreadable" in ck.note
    io.Checkpoint(path, "other").save({"done": np.zeros(3, bool)})
    ck = io.Checkpoint(path, "cfg")
    assert ck.load() is None and "another config" in ck.note


@pytest.mark.slow
def test_one_compile_per_program(monkeypatch):
    traces = {"n": 0}
    device_fn = fig4.device_fn

    def counting(setup):
        fn = device_fn(setup)

        def wrapped(key, col):
            traces["n"] += 1  # Python side effect: runs once per trace
            return fn(key, col)

        return wrapped

    monkeypatch.setattr(
        fig4, "device_fn", counting
    )  # the engine's, as run_grid calls it
    out = _sweep("paper", trials=10, chunk=3, max_buckets=1)[-1]
    # 8 cells x 10 trials over many blocks; d0 = 1 has its own program.
    assert len(out["buckets"]) == 2 and traces["n"] == 2


@pytest.mark.slow
def test_summary_counts(key):
    grid, _, _, _, out = _sweep("paper")
    cells = full_rank.summarize(grid, out["code"], out["s_ratio"], 2.0)
    for cell, codes in zip(cells, out["code"], strict=True):
        assert cell["full_rank"] == int(np.isin(codes, jacobian.FULL_CODES).sum())
        assert sum(cell["decided_by"].values()) == cell["trials"]
        np.testing.assert_allclose(  # against SciPy's Wilson interval
            cell["p_ci95"],
            _scipy_wilson(cell["full_rank"], cell["trials"]),
            rtol=1e-9,
            atol=1e-12,
        )


def _scipy_wilson(k, t):
    from scipy.stats import binomtest

    ci = binomtest(k, t).proportion_ci(confidence_level=0.95, method="wilson")
    return [ci.low, ci.high]


@pytest.mark.slow
def test_bucketed_grid_decides_as_one_padded_program():
    grid = full_rank.make_grid(
        "peer",
        rank_dtype="float32",
        d0_values=(1, 3),
        n_values=(4, 12),
        d1_values=(1, 3, 9),
    )
    assert (grid.n_cols < grid.n).any()  # some cells are P < n: decided without running
    kw = dict(
        ctx=runtime.Context.detached("full_rank", None, base_key=jax.random.key(5)),
        chunk=8,
        rank_dtype="float32",
    )
    many = full_rank.run_grid(
        "peer", grid, 10, max_buckets=8, compile_seconds=0.0, **kw
    )
    one = full_rank.run_grid("peer", grid, 10, max_buckets=1, **kw)
    # d0 = 1 cells get their own program (their Gram matrix has an O(n d1) form).
    assert len(one["buckets"]) == 2 and len(many["buckets"]) > 2
    full = lambda out: np.isin(out["code"], jacobian.FULL_CODES)  # noqa: E731
    np.testing.assert_array_equal(full(many), full(one))
    trivial = grid.n_cols < grid.n
    assert (many["code"][trivial] == jacobian.P_LT_N).all()
    assert sum(b["cells"] for b in many["buckets"]) == (~trivial).sum()


def test_buckets_cover_the_grid_and_pad_upwards():
    grid = full_rank.make_grid(
        "paper",
        rank_dtype="float64",
        ratios=(0.5, 2),
        d0_values=(1,),
        n_values=(10, 50, 90),
        d1_values=(2, 20),
    )
    columns = full_rank.grid_columns("paper", grid)
    buckets = full_rank.plan_buckets(grid, columns, max_buckets=3)
    cols = np.sort(np.concatenate([b.columns for b in buckets]))
    live = grid.n_cols >= grid.n
    np.testing.assert_array_equal(cols, np.unique(columns.of_cell[live]))
    for b in buckets:
        cells = np.flatnonzero(live & np.isin(columns.of_cell, b.columns))
        assert b.sizes == (
            grid.n[cells].max(),
            grid.d0[cells].max(),
            grid.d1[cells].max(),
        )
        assert set(b.widths) == set(grid.d1[cells].tolist())
        assert (
            len(set(columns.d0[b.columns] == 1)) == 1
        )  # d0 = 1 never mixed with d0 > 1


@pytest.mark.parametrize("convention", ["paper", "peer"])
def test_exact_gram_rank_never_exceeds_and_certifies_the_kr_rank(convention):
    # Padded sizes (N, D0, D1) = (12, 3, 9); cells from deficient (d1 = 1) to full.
    setup = full_rank.Setup(convention, (12, 3, 9), "float64", 0.0, (9,))
    gram_fn, full_fn = (
        jax.jit(jax.vmap(f, in_axes=(0, None, None, None)))
        for f in full_rank.exact_rank_fns(setup)
    )
    keys = jax.vmap(lambda t: runtime.trial_key(jax.random.key(5), 7, t))(jnp.arange(8))
    outcomes = set()
    for n, d0, d1 in [(10, 1, 1), (10, 1, 9), (12, 3, 4), (6, 2, 2), (8, 3, 9)]:
        g = np.asarray(gram_fn(keys, n, d0, d1))
        f = np.asarray(full_fn(keys, n, d0, d1))
        assert (g <= f).all() and (f <= n).all()  # rank_p(KKᵀ) ≤ rank K ≤ n
        assert (f[g == n] == n).all()  # a full-rank Gram certifies K
        outcomes |= set((f == n).tolist())
    assert outcomes == {True, False}


@pytest.mark.slow
def test_exact_check_eliminates_small_cells_at_their_own_size():
    """Cells padded into a larger program (n = 6 beside n = 40) are eliminated at their
    own size (``_rank_size``), with the ranks of the whole padded Gram."""
    grid = full_rank.make_grid(
        "paper",
        rank_dtype="float64",
        d0_values=(2,),
        n_values=(6, 40),
        d1_values=(3, 30),
    )
    key = jax.random.key(8)
    out = full_rank.run_grid(
        "paper",
        grid,
        5,
        ctx=runtime.Context.detached("full_rank", None, base_key=key),
        chunk=4,
        rank_dtype="float64",
        max_buckets=1,
        exact_trials=5,
    )
    (bucket,) = out["buckets"]
    assert bucket["sizes"][0] == 40 and exact._rank_size(6) < 40
    setup = full_rank.Setup(
        "paper", tuple(bucket["sizes"]), "float64", 2.0, tuple(bucket["widths"])
    )
    gram_fn, full_fn = (jax.jit(f) for f in full_rank.exact_rank_fns(setup))
    seeds = full_rank.grid_seeds("paper", grid)
    live = grid.n_cols >= grid.n
    assert live.sum() >= 3
    for c in np.flatnonzero(live):
        n, d0, d1 = int(grid.n[c]), int(grid.d0[c]), int(grid.d1[c])
        for t in range(5):
            k = runtime.trial_key(key, seeds[c], t)
            whole = int(gram_fn(k, n, d0, d1))  # the unsliced N x N Gram
            if whole < n and out["code"][c, t] in jacobian.FULL_CODES:
                whole = int(full_fn(k, n, d0, d1))  # re-decided on K itself
            assert out["exact_rank"][c, t] == whole, (c, t)
