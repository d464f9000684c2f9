"""The runner: host trials (keys, worker and resume invariance), the watchdog, and the
notebook path (``runtime.run`` without files)."""

import threading

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnet import runtime


def _draw(rng, cell, t, *, scale):
    """A host trial (module level, so spawned workers can import it)."""
    return {"x": scale * rng.standard_normal() + cell, "t": t}


def test_host_keys_are_the_device_keys():
    key = jax.random.key(11)
    data = runtime.trial_key_data(key, [5, 9], 4)
    for c, seed in enumerate((5, 9)):
        for t in range(4):
            want = jax.random.key_data(runtime.trial_key(key, seed, t))
            np.testing.assert_array_equal(data[c, t], np.asarray(want))
    a = runtime.host_rng(data[1, 2]).standard_normal(3)
    b = runtime.host_rng(data[1, 2]).standard_normal(3)
    c = runtime.host_rng(data[1, 3]).standard_normal(3)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_host_results_do_not_depend_on_workers_or_order():
    kw = dict(base_key=jax.random.key(2), static={"scale": 2.0}, progress=False)
    one = runtime.run_host(_draw, [0.0, 10.0, 20.0], [1, 2, 3], 5, workers=1, **kw)
    two = runtime.run_host(
        _draw, [0.0, 10.0, 20.0], [1, 2, 3], 5, workers=2, cost=lambda cell: cell, **kw
    )
    np.testing.assert_array_equal(one["x"], two["x"])
    np.testing.assert_array_equal(one["t"], np.tile(np.arange(5), (3, 1)))
    assert one["done"].all()


def test_host_run_resumes_after_interruption(tmp_path):
    from jaxnet.runtime import io

    kw = dict(
        base_key=jax.random.key(4), static={"scale": 1.0}, progress=False, workers=1
    )
    ref = runtime.run_host(_draw, [0.0, 1.0], [7, 8], 6, **kw)
    calls = {"n": 0}

    def dies(rng, cell, t, *, scale):
        calls["n"] += 1
        if calls["n"] > 5:
            raise KeyboardInterrupt
        return _draw(rng, cell, t, scale=scale)

    ckpt = io.Checkpoint(tmp_path / "ck.npz", "cfg")
    with pytest.raises(KeyboardInterrupt):
        runtime.run_host(dies, [0.0, 1.0], [7, 8], 6, checkpoint=ckpt, **kw)
    assert io.Checkpoint(tmp_path / "ck.npz", "cfg").load()["done"].sum() == 5
    calls["n"] = -100  # the rerun does only the 7 missing trials
    out = runtime.run_host(
        dies,
        [0.0, 1.0],
        [7, 8],
        6,
        checkpoint=io.Checkpoint(tmp_path / "ck.npz", "cfg"),
        **kw,
    )
    np.testing.assert_array_equal(out["x"], ref["x"])
    assert calls["n"] == -100 + 7


def test_watchdog_fires_on_a_stall_and_checkpoints_first(capsys):
    fired = threading.Event()
    saved = []
    dog = runtime.Watchdog(
        0.2,
        "block 3",
        on_stall=lambda: saved.append(1),
        exit_fn=lambda status: fired.set(),
        poll=0.05,
    )
    assert fired.wait(5.0), "the watchdog did not fire"
    dog.stop()
    assert saved == [1] and dog.fired
    err = capsys.readouterr().err
    assert "block 3 made no progress" in err and "resume" in err


def test_watchdog_stays_quiet_while_beating():
    fired = threading.Event()
    dog = runtime.Watchdog(0.3, "x", exit_fn=lambda status: fired.set(), poll=0.02)
    for _ in range(20):
        dog.beat()
        threading.Event().wait(0.03)
    dog.stop()
    assert not fired.is_set() and not dog.fired


def test_device_run_stalled_block_aborts_with_checkpoint(tmp_path, monkeypatch):
    """A refine step that hangs (standing in for a wedged XLA program) is aborted by
    the watchdog; finished blocks are in the checkpoint."""
    from jaxnet.runtime import io

    exits = []
    release = threading.Event()

    class FakeExit(Exception):
        pass

    def hang_then_release(keys, cell_idx, trial_idx, out):
        if trial_idx.min() >= 4:  # the third block hangs until the watchdog fires
            release.wait(10.0)
            raise FakeExit
        return out

    def exit_fn(status):
        exits.append(status)
        release.set()

    monkeypatch.setattr(runtime.Watchdog, "__init__", _patched_init(exit_fn))
    ckpt = io.Checkpoint(tmp_path / "ck.npz", "cfg")
    mesh = runtime.device_mesh(jax.devices()[:2])
    args = (
        lambda k, c: {"u": jax.random.uniform(k)},
        {"a": np.zeros(1)},
        np.array([3], np.uint32),
    )
    # compiled ahead, so the watchdog's allowance is not spent compiling
    block_fn = runtime.compile_block_fn(
        *args, base_key=jax.random.key(0), chunk=1, mesh=mesh
    )
    with pytest.raises(FakeExit):
        runtime.run_device(
            *args,
            8,
            base_key=jax.random.key(0),
            chunk=1,
            mesh=mesh,
            refine_fn=hang_then_release,
            checkpoint=ckpt,
            checkpoint_every=1e9,
            progress=False,
            stall_timeout=1.0,
            block_fn=block_fn,
        )
    assert exits == [runtime.Watchdog.EXIT_STATUS]
    state = io.Checkpoint(tmp_path / "ck.npz", "cfg").load()
    assert state["done"].sum() == 4  # two blocks of 2 finished before the stall


def _patched_init(exit_fn):
    init = runtime.Watchdog.__init__

    def patched(self, timeout, what, *, on_stall=None, exit_fn_=None, poll=None, **kw):
        init(self, timeout, what, on_stall=on_stall, exit_fn=exit_fn, poll=0.05)

    return patched


def test_run_without_out_writes_nothing_and_plots(tmp_path, monkeypatch):
    from jaxnet.experiments import full_rank

    monkeypatch.chdir(tmp_path)
    res = full_rank.probability(
        convention="peer", d0=[1], n=[4, 6], d1=range(2, 6, 3), trials=4, chunk=2
    )
    assert list(tmp_path.iterdir()) == []
    assert res.column("n").tolist() == [4, 4, 6, 6]
    assert res.results["config"]["convention"] == "peer"
    assert res.results["metadata"]["x64"] is True
    figs = res.plot()
    assert list(figs) == ["full_rank_d0.png"]
    assert "4 cells" in repr(res)


def _halve_until_small(key, cell):
    """A unit whose loop length depends on its draw (a vmapped ``while_loop``)."""
    x0 = 1.0 + 100.0 * jax.random.uniform(key) + cell["a"]

    def body(state):
        x, k = state
        return x * 0.5 + 0.01 * jnp.sin(x), k + 1

    x, k = jax.lax.while_loop(lambda s: s[0] > 1e-3, body, (x0, 0))
    return {"x": x, "steps": k}


def test_small_run_shrinks_its_block_and_keeps_the_numbers(monkeypatch):
    """A run smaller than ``chunk`` units per device is evaluated in a block of the
    next power of two (not padded to ``chunk``), with the numbers of ``chunk = 1``."""
    shapes = []
    make = runtime.make_block_fn

    def recording(*args, **kw):
        fn = make(*args, **kw)

        def call(key_data, cells, seeds, cell_idx, trial_idx):
            shapes.append(cell_idx.shape)
            return fn(key_data, cells, seeds, cell_idx, trial_idx)

        return call

    from jaxnet.runtime import device_loop

    monkeypatch.setattr(device_loop, "make_block_fn", recording)
    mesh = runtime.device_mesh(jax.devices()[:2])
    cells, seeds = {"a": np.array([0.0, 3.0, 7.0])}, np.array([4, 5, 6], np.uint32)
    kw = dict(base_key=jax.random.key(9), mesh=mesh, progress=False)
    big = runtime.run_device(_halve_until_small, cells, seeds, 3, chunk=64, **kw)
    assert shapes == [(2, 8)]  # 9 units on 2 devices: 5 each -> blocks of 8, not 64
    one = runtime.run_device(_halve_until_small, cells, seeds, 3, chunk=1, **kw)
    assert shapes[1:] == [(2, 1)] * 5
    assert len(set(big["steps"].ravel().tolist())) > 1  # the loop lengths differ
    for name in ("x", "steps"):  # bit for bit: the block size changes no number
        np.testing.assert_array_equal(big[name], one[name])
