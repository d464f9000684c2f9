import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnet import full_rank as fr
from jaxnet import io, jacobian, nets, sweep

GRID = dict(d0_values=(1, 2), n_values=(4, 8), d1_values=(2, 6))


def _sweep(convention, *, trials=6, chunk=4, mesh=None, checkpoint=None,
           refine_wrapper=None, unit_wrapper=None, **grid_kw):
    rank_dtype = fr.RANK_DTYPE_DEFAULT[convention]
    grid = fr.make_grid(convention, rank_dtype=rank_dtype, **{**GRID, **grid_kw})
    seeds = fr.grid_seeds(convention, grid)
    setup = fr.make_setup(convention, grid, rank_dtype, 2.0)
    key = jax.random.key(3)
    cells = {"n": grid.n, "d0": grid.d0, "d1": grid.d1, "n_cols": grid.n_cols,
             "rtol": grid.rtol}
    refine = fr.make_refine(setup, grid, seeds, key)
    unit = fr.unit_fn(setup)
    out = sweep.run_sweep(
        unit_wrapper(unit) if unit_wrapper else unit, cells, seeds, trials,
        base_key=key, chunk=chunk,
        refine_fn=refine_wrapper(refine) if refine_wrapper else refine,
        checkpoint=checkpoint, checkpoint_every=0.0, progress=False, mesh=mesh,
    )
    return grid, seeds, setup, key, out


def test_ratio_d0_is_exact():
    assert fr.ratio_d0(0.1, 30) == 3
    assert fr.ratio_d0(0.25, 10) == 3
    assert fr.ratio_d0(2, 190) == 380


def test_padded_trial_equals_unpadded_trial(key):
    kw = dict(dtype=jnp.float64)
    p_big, x_big, m_big = fr.sample_trial(key, "peer", 5, 2, 3, sizes=(9, 4, 7), **kw)
    p, x, m = fr.sample_trial(key, "peer", 5, 2, 3, sizes=(5, 2, 3), **kw)
    np.testing.assert_array_equal(np.asarray(x_big)[:5, :2], x)
    np.testing.assert_array_equal(np.asarray(p_big["w"])[:3, :2], p["w"])
    assert not np.asarray(x_big)[5:].any() and not np.asarray(p_big["v"])[3:].any()
    g_big = jacobian.gram(p_big, x_big, ("b", "v", "w"), row_mask=m_big)
    g = jacobian.gram(p, x, ("b", "v", "w"), row_mask=m)
    np.testing.assert_allclose(np.asarray(g_big)[:5, :5], g, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("convention", ["paper", "peer"])
def test_every_sweep_decision_equals_svd_of_autodiff_jacobian(convention):
    grid, seeds, setup, key, out = _sweep(convention)
    wrt = nets.JACOBIAN_WRT[convention]
    n_full = 0
    for c in range(len(grid.n)):
        n, d0, d1 = int(grid.n[c]), int(grid.d0[c]), int(grid.d1[c])
        for t in range(out["code"].shape[1]):
            k = sweep.trial_key(key, seeds[c], t)
            params, xs, _ = fr.sample_trial(k, convention, n, d0, d1, sizes=(n, d0, d1),
                                            dtype=jnp.dtype(setup.sample_dtype))
            params = jax.tree.map(lambda a: a.astype(jnp.float64), params)
            jac = np.asarray(jacobian.param_jacobian(params, xs.astype(jnp.float64), wrt))
            full = np.linalg.matrix_rank(jac, rtol=float(grid.rtol[c])) == n
            assert full == (out["code"][c, t] in jacobian.FULL_CODES), (c, t)
            n_full += full
    assert 0 < n_full < out["code"].size  # both outcomes occur on this grid


def test_results_do_not_depend_on_chunk_or_device_count():
    ref = _sweep("peer", chunk=24, mesh=sweep.device_mesh(jax.devices()[:1]))[-1]
    assert jax.device_count() == 4
    for chunk in (1, 3):
        out = _sweep("peer", chunk=chunk)[-1]
        np.testing.assert_array_equal(out["code"], ref["code"])
        np.testing.assert_array_equal(out["s_ratio"], ref["s_ratio"])


def test_a_cell_gives_the_same_trials_in_any_grid():
    small = _sweep("paper", d0_values=(2,), n_values=(8,), d1_values=(6,))[-1]
    big = _sweep("paper")[-1]
    np.testing.assert_array_equal(small["code"][0], big["code"][-1])


def test_interrupted_sweep_resumes_to_identical_results(tmp_path):
    ref = _sweep("peer", chunk=2)[-1]
    ckpt = io.Checkpoint(tmp_path / "ck.npz", "cfg")
    calls = {"n": 0}

    def dies_after_three_blocks(refine):
        def wrapped(*args):
            calls["n"] += 1
            if calls["n"] > 3:
                raise KeyboardInterrupt
            return refine(*args)
        return wrapped

    with pytest.raises(KeyboardInterrupt):
        _sweep("peer", chunk=2, checkpoint=ckpt, refine_wrapper=dies_after_three_blocks)
    saved = ckpt.load()
    assert saved is not None and 0 < saved["done"].sum() < saved["done"].size
    out = _sweep("peer", chunk=2, checkpoint=ckpt)[-1]
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


def test_one_compile_per_sweep():
    traces = {"n": 0}

    def counting(unit):
        def wrapped(key, cell):
            traces["n"] += 1  # Python side effect: runs once per trace
            return unit(key, cell)
        return wrapped

    _sweep("paper", trials=10, chunk=3, unit_wrapper=counting)
    assert traces["n"] == 1  # 8 cells x 10 trials over several blocks, one trace


def test_summary_counts(key):
    grid, _, _, _, out = _sweep("paper")
    cells = fr.summarize(grid, out["code"], out["s_ratio"], 2.0)
    for cell, codes in zip(cells, out["code"], strict=True):
        assert cell["full_rank"] == int(np.isin(codes, jacobian.FULL_CODES).sum())
        assert sum(cell["decided_by"].values()) == cell["trials"]
        lo, hi = cell["p_ci95"]
        assert lo <= cell["p"] <= hi


def test_bucketed_grid_decides_as_one_padded_program():
    grid = fr.make_grid("peer", rank_dtype="float32", d0_values=(1, 3), n_values=(4, 12),
                        d1_values=(1, 3, 9))
    assert (grid.n_cols < grid.n).any()  # some cells are P < n: decided without running
    kw = dict(base_key=jax.random.key(5), chunk=8, rank_dtype="float32", progress=False)
    many = fr.run_grid("peer", grid, 10, max_buckets=8, compile_seconds=0.0, **kw)
    one = fr.run_grid("peer", grid, 10, max_buckets=1, **kw)
    # d0 = 1 cells get their own program (their Gram matrix has an O(n d1) form).
    assert len(one["buckets"]) == 2 and len(many["buckets"]) > 2
    full = lambda out: np.isin(out["code"], jacobian.FULL_CODES)  # noqa: E731
    np.testing.assert_array_equal(full(many), full(one))
    trivial = grid.n_cols < grid.n
    assert (many["code"][trivial] == jacobian.P_LT_N).all()
    assert sum(b["cells"] for b in many["buckets"]) == (~trivial).sum()


def test_buckets_cover_the_grid_and_pad_upwards():
    grid = fr.make_grid("paper", rank_dtype="float64", ratios=(0.5, 2), d0_values=(1,),
                        n_values=(10, 50, 90), d1_values=(2, 20))
    buckets = fr.plan_buckets(grid, max_buckets=3)
    cells = np.sort(np.concatenate([b.cells for b in buckets]))
    np.testing.assert_array_equal(cells, np.flatnonzero(grid.n_cols >= grid.n))
    for b in buckets:
        assert b.sizes == (grid.n[b.cells].max(), grid.d0[b.cells].max(),
                           grid.d1[b.cells].max())
        assert len(set(grid.d0[b.cells] == 1)) == 1  # d0 = 1 never mixed with d0 > 1
