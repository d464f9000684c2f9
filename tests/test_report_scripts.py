import json

import condensation
import minnorm_phase
import numpy as np
import pytest

from jaxnet.teacher_student import measures, minnorm, teachers


@pytest.mark.slow
def test_condensation_script(tmp_path):
    out = tmp_path / "out"
    assert (
        condensation.main(
            [
                "--N",
                "30",
                "--seeds",
                "3",
                "--width",
                "16",
                "--steps",
                "600",
                "--log-every",
                "100",
                "--stages",
                "3",
                "--workers",
                "2",
                "--no-progress",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    res = json.loads((out / "results.json").read_text())
    blk = res["per_N"][0]
    # The exact solves ran on the host pool: the same program solved here, in-process,
    # gives the same optimum and neurons (same solver, same data; rtol 1e-12).
    arrays = np.load(out / "runs.npz")
    x0 = arrays["N30_x"][0]
    sol = minnorm.min_norm_interpolant(
        x0, measures.evaluate(teachers.make("report", 3, 2), x0)
    )
    assert blk["runs"][0]["exact"]["opt"] == pytest.approx(sol.opt, rel=1e-12)
    np.testing.assert_allclose(
        arrays["N30_exact_w"], sol.params["w"], rtol=1e-12, atol=1e-12
    )
    assert 0 <= blk["eq12_bound"] <= blk["p_hypothesis_exact"] <= 1  # a lower bound
    assert len(blk["runs"]) == 3
    for run in blk["runs"]:
        assert sum(run["sector_counts"]) == 30
        assert run["exact"]["status"] == "optimal"
        if run["hypothesis"]:  # Theorem 5.2
            assert run["exact"]["sq_norm"] == pytest.approx(6.0, abs=1e-4)
            assert run["exact"]["function_distance"] < 1e-3
    for name in ("fig4_neurons.png", "norms.png"):
        assert (out / name).stat().st_size > 0
    assert condensation.main(["--N", "2", "--out", str(tmp_path / "x")]) == 2
    assert not (tmp_path / "x").exists()


def test_minnorm_phase_script_and_resume(tmp_path):
    args = "--teachers report --N 6 24 --instances 4 --workers 1 --no-progress".split()
    out = tmp_path / "out"
    assert minnorm_phase.main([*args, "--out", str(out)]) == 0
    rows = json.loads((out / "results.json").read_text())["cells"]
    assert [r["N"] for r in rows] == [6, 24]
    for r in rows:
        assert r["solved"] + r["failed"] == 4
        assert r["theorem52_confirmed"] == r["hypothesis_held"]
    assert rows[0]["p_hypothesis_exact"] == 0.0  # 6 points cannot fill 6 sectors thrice
    assert (out / "phase.png").stat().st_size > 0
    assert (
        minnorm_phase.main(
            ["--d", "3", "--teachers", "report", "--out", str(tmp_path / "y")]
        )
        == 2
    )
