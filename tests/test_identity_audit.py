"""Run identity owned by the runner, provenance, the audit and the fail-fast host pool.

Parts of one run with the same shapes never share state; a part killed in the middle
resumes to the uninterrupted numbers; a sub-computation equals its standalone run; the
audit recomputes stored trials and re-derives results, and a flipped decision or an
edited report makes it fail; a host pool in an unguarded script stops at once.
"""

import dataclasses
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import numpy as np
import pytest

from jaxnet import audit, runtime
from jaxnet.runtime import io

SCRIPTS = Path(__file__).parents[1] / "scripts"


def _draw(rng, cell, t, *, scale):
    """A host trial (module level, so spawned workers can import it)."""
    return {"x": scale * rng.standard_normal() + cell, "t": t}


def _normal_trial(scale):
    def one(key, cell):
        return {"x": scale * jax.random.normal(key) + cell["c"]}

    return one


@dataclasses.dataclass(frozen=True)
class _Cfg:
    seed: int = 3


def _ctx(out, **options):
    opts = runtime.Options(
        out=str(out) if out else None,
        progress=False,
        checkpoint_every=0.0,
        workers=1,
        **options,
    )
    return runtime.Context("identity_test", _Cfg(), opts, Path(out) if out else None)


def test_describe_sees_the_values_a_closure_captured():
    same = runtime.describe(_normal_trial(2.0)) == runtime.describe(_normal_trial(2.0))
    assert same
    assert runtime.describe(_normal_trial(2.0)) != runtime.describe(_normal_trial(3.0))
    a, b = np.zeros(3), np.ones(3)
    assert runtime.describe(a) != runtime.describe(b)
    assert runtime.describe(jax.random.key(1)) != runtime.describe(jax.random.key(2))


def test_same_shape_host_parts_never_share_a_checkpoint(tmp_path):
    kw = dict(
        base_key=jax.random.key(3), static={"scale": 1.0}, progress=False, workers=1
    )
    alone_a = runtime.run_host(_draw, [0.0, 1.0], [7, 8], 4, **kw)
    alone_b = runtime.run_host(_draw, [5.0, 6.0], [9, 10], 4, **kw)
    ctx = _ctx(tmp_path)
    a = ctx.host(_draw, [0.0, 1.0], [7, 8], 4, static={"scale": 1.0})
    b = ctx.host(_draw, [5.0, 6.0], [9, 10], 4, static={"scale": 1.0})
    np.testing.assert_array_equal(a["x"], alone_a["x"])
    np.testing.assert_array_equal(b["x"], alone_b["x"])
    # Both finished parts stay on disk, complete, each under its own identity ...
    assert len(list(tmp_path.glob("checkpoint-*.npz"))) == 2
    # ... and a new run of b alone (same shapes) reads b's, never a's.
    again = _ctx(tmp_path).host(_draw, [5.0, 6.0], [9, 10], 4, static={"scale": 1.0})
    np.testing.assert_array_equal(again["x"], alone_b["x"])
    other_scale = _ctx(tmp_path).host(
        _draw, [5.0, 6.0], [9, 10], 4, static={"scale": 2.0}
    )
    assert not np.array_equal(other_scale["x"], alone_b["x"])


def test_same_shape_device_parts_never_share_a_checkpoint(tmp_path):
    cells_a, cells_b = {"c": np.array([0.0, 1.0])}, {"c": np.array([5.0, 6.0])}
    seeds = np.array([7, 8], np.uint32)
    kw = dict(base_key=jax.random.key(3), chunk=2, progress=False)
    alone_a = runtime.run_device(_normal_trial(1.0), cells_a, seeds, 3, **kw)
    alone_b = runtime.run_device(_normal_trial(1.0), cells_b, seeds, 3, **kw)
    ctx = _ctx(tmp_path)
    a = ctx.device(_normal_trial(1.0), cells_a, seeds, 3, chunk=2)
    b = ctx.device(_normal_trial(1.0), cells_b, seeds, 3, chunk=2)
    np.testing.assert_array_equal(a["x"], alone_a["x"])
    np.testing.assert_array_equal(b["x"], alone_b["x"])
    assert len(list(tmp_path.glob("checkpoint-*.npz"))) == 2
    c = _ctx(tmp_path).device(_normal_trial(3.0), cells_b, seeds, 3, chunk=2)
    assert not np.array_equal(c["x"], alone_b["x"])  # another closure: another part


class _Die(Exception):
    pass


_BLOCKS = {"n": 0}  # a global, not a closure value: not part of the part's identity


def dies_after_two_blocks(keys, cell_idx, trial_idx, out):
    """A deterministic fault hook: the third block of a run raises."""
    _BLOCKS["n"] += 1
    if _BLOCKS["n"] == 3:
        raise _Die
    return out


def test_a_part_killed_in_the_middle_resumes_to_the_uninterrupted_numbers(tmp_path):
    cells, seeds = {"c": np.arange(4.0)}, np.arange(4, dtype=np.uint32)
    one = runtime.device_mesh(jax.devices()[:1])  # blocks of 2 trials: 8 blocks
    ref = _ctx(None).device(_normal_trial(1.0), cells, seeds, 4, chunk=2, mesh=one)
    _BLOCKS["n"] = 0

    def run():  # the same part each time: a fresh context, the same trials
        return _ctx(tmp_path).device(
            _normal_trial(1.0),
            cells,
            seeds,
            4,
            chunk=2,
            mesh=one,
            refine_fn=dies_after_two_blocks,
        )

    with pytest.raises(_Die):
        run()
    (ckpt,) = tmp_path.glob("checkpoint-*.npz")
    with np.load(ckpt) as z:
        assert z["done"].sum() == 4  # the two finished blocks of the killed part
    _BLOCKS["n"] = -100
    out = run()
    np.testing.assert_array_equal(out["x"], ref["x"])
    assert _BLOCKS["n"] == -100 + 6  # only the 6 missing blocks ran


@pytest.mark.slow
def test_gd_boundary_equals_standalone_global_minima_for_every_d0(tmp_path):
    from jaxnet.experiments import global_minima, gradient_descent

    grid = dict(n=[10, 20], d1=[10, 20])
    gd = gradient_descent.train(
        d0=[2, 5],
        trials=2,
        steps=50,
        gm_regions=8,
        workers=1,
        out=tmp_path / "gd",
        **grid,
    )
    for d0 in (2, 5):
        alone = global_minima.probability(
            d0=[d0], regions=8, check_reference=0, workers=1, **grid
        )
        got = [c for c in gd.results["global_minima_cells"] if c["d0"] == d0]
        assert [(c["yes"], c["no"]) for c in got] == [
            (c["yes"], c["no"]) for c in alone.cells
        ]
    # The sub-computations' checkpoint folders are gone once the run finished.
    assert not list((tmp_path / "gd").glob("global_minima_d0=*"))


def test_results_record_provenance_and_parts(tmp_path):
    from jaxnet.experiments import binary_singularity

    res = binary_singularity.singular_probability(
        n=[2, 5], trials=40, exact_trials=40, out=tmp_path
    )
    prov = res.results["provenance"]
    assert prov["source_fingerprint"] == io.provenance()["source_fingerprint"]
    assert {p["desc"] for p in prov["parts"]} == {"n=2", "n=5"}
    with np.load(tmp_path / runtime.PARTS_FILE) as z:
        assert {k.split(".")[1] for k in z.files} == {"rank_p", "rank"}


def _flip(path: Path, key_suffix: str, index):
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    (key,) = [k for k in arrays if k.endswith(key_suffix)]
    arrays[key][index] = 1 - arrays[key][index]
    io.write_npz(path, **arrays)


def test_audit_passes_on_a_stored_run_and_names_a_flipped_decision(tmp_path):
    from jaxnet.experiments import global_minima

    out = tmp_path / "fig5"
    global_minima.probability(
        d0=[1], n=[5, 10], d1=[10, 20], regions=6, check_reference=3, workers=1, out=out
    )
    res = audit.audit_run(out, per_cell=2)
    assert res.ok, res.line()
    assert res.recomputed == 8 and res.parts == 1
    _flip(out / "instances.npz", "status", (2, 4))  # one region's yes/no
    res = audit.audit_run(out, per_cell=2)
    assert not res.ok
    assert "fig5" in res.line() and "status" in res.line() and "(2, 4)" in res.line()


@pytest.mark.slow
def test_audit_recomputes_device_trials_and_names_the_cell(tmp_path):
    from jaxnet.experiments import binary_singularity

    out = tmp_path / "thm3"
    binary_singularity.singular_probability(
        n=[3, 6], trials=30, exact_trials=30, chunk=8, out=out
    )
    assert audit.audit_run(out, per_cell=3).ok
    some = audit.audit_run(out, per_cell=3, max_parts=1)  # n = 3, 6: two parts
    assert some.ok and some.parts == 2 and some.sampled == 1
    assert some.recomputed == 3 and "1 of 2 parts" in some.line()
    # A stored trial changed consistently everywhere but in its recomputation.
    with np.load(out / runtime.PARTS_FILE) as z:
        parts = {k: z[k] for k in z.files}
    for k in parts:
        parts[k][0, :] = 0  # every trial of the part, so the sample must hit one
    io.write_npz(out / runtime.PARTS_FILE, **parts)
    res = audit.audit_run(out, per_cell=1)
    assert not res.ok and "trial" in res.line() and "rank" in res.line()


def test_audit_refuses_results_without_stored_parts(tmp_path):
    io.write_json(
        tmp_path / "results.json",
        {"experiment": "binary_singularity", "config": {}, "metadata": {}},
    )
    with pytest.raises(audit.AuditError, match="regenerate"):
        audit.audit_run(tmp_path)


@pytest.mark.slow
def test_reproduce_audit_checks_the_report_text(tmp_path, reproduce):
    run = reproduce()
    assert run.returncode == 0, run.stdout + run.stderr
    ok = reproduce("--audit")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "[audit] fig1_fig3: OK" in ok.stdout and "REPORT.md: OK" in ok.stdout
    report = tmp_path / "REPORT.md"
    report.write_text(report.read_text().replace("reproduced (figure)", "reproduced!"))
    bad = reproduce("--audit")
    assert bad.returncode == 1 and "REPORT.md: MISMATCH" in bad.stdout


@pytest.mark.slow
def test_host_pool_in_an_unguarded_script_stops_at_once_with_advice(tmp_path):
    script = tmp_path / "unguarded.py"
    script.write_text(
        textwrap.dedent("""
        from jaxnet.experiments import global_minima
        global_minima.probability(d0=[1], n=[5], d1=[10], regions=4,
                                  check_reference=0, workers=2)
        print("finished")
    """)
    )
    proc = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=tmp_path,
    )
    assert proc.returncode != 0
    assert "__main__" in proc.stderr.strip().splitlines()[-1]
    assert "finished" not in proc.stdout


def test_results_cache_tracks_the_code(tmp_path):
    io.write_json(tmp_path / "results.json", {"p": 1})
    io.ResultsCache(tmp_path, {"trials": 1}, code="aaa").commit()
    assert io.ResultsCache(tmp_path, {"trials": 1}, code="aaa").same_code()
    stale = io.ResultsCache(tmp_path, {"trials": 1}, code="bbb")
    assert stale.valid() and not stale.same_code()
    assert json.loads((tmp_path / "cache.json").read_text())["code"] == "aaa"


def test_timing_fields_and_float_tolerance_in_comparisons():
    assert audit._close(
        np.array([1.0, np.nan]), np.array([1.0 + 1e-12, np.nan]), 1e-9
    ).all()
    assert not audit._close(np.array([1.0]), np.array([1.001]), 1e-9).all()
    assert not audit._close(np.array([1], np.int8), np.array([2], np.int8), 1.0).all()
    diffs = []
    audit._compare_tree(
        {"a": 1, "x_seconds": 3.0}, {"a": 1, "x_seconds": 9.0}, "r", diffs
    )
    assert diffs == []
    audit._compare_tree({"a": [1, 2]}, {"a": [1, 3]}, "r", diffs)
    assert diffs == ["r.a[1]: stored 2, re-derived 3"]


def test_subset_of_trials_equals_the_full_run():
    cells, seeds = {"c": np.arange(3.0)}, np.array([4, 5, 6], np.uint32)
    kw = dict(base_key=jax.random.key(9), progress=False)
    full = runtime.run_device(_normal_trial(1.0), cells, seeds, 5, chunk=4, **kw)
    units = np.array([0, 7, 14])
    sub = runtime.run_device(
        _normal_trial(1.0), cells, seeds, 5, chunk=4, subset=units, **kw
    )
    np.testing.assert_array_equal(sub["x"], full["x"].reshape(-1)[units])
    with pytest.raises(ValueError, match="subset"):
        runtime.run_device(
            _normal_trial(1.0), cells, seeds, 5, chunk=4, subset=np.array([15]), **kw
        )


def test_the_source_fingerprint_covers_every_module_but_the_report_layer():
    root = Path(io.__file__).parents[1]
    covered = {p.relative_to(root).as_posix() for p in io.source_files()}
    every = {
        p.relative_to(root).as_posix()
        for p in root.rglob("*.py")
        if "__pycache__" not in p.parts
    }
    assert {
        "nets.py",
        "rank/fig4.py",
        "runtime/io.py",
        "experiments/full_rank.py",
    } <= covered
    assert every - covered == {p for p in every if p.startswith("claims/")}
    assert every - covered  # the report layer exists and is left out


def test_audit_tolerances_relative_and_absolute():
    assert audit._close(1.0, 1.0 + 1e-12, 1e-9).all()
    assert not audit._close(1e-17, 2e-17, 1e-9).all()  # a rounding error, to the bit
    assert audit._close(1e-17, 2e-17, 1e-9, 1e-12).all()  # Spec.audit_atol
    assert not audit._close(1e-17, 1e-6, 1e-9, 1e-12).all()
    assert (
        audit._close(np.nan, np.nan, 1e-9).all() and not audit._close(1, 2, 0.1).all()
    )
