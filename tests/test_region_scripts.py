import json

import binary_singularity
import global_minima
import numpy as np
import pytest

from jaxnet.regions import lp

GM_TINY = "--n 5 9 --d1 6 20 --regions 6 --workers 1 --check-reference 24 --no-progress".split()


@pytest.mark.parametrize("d0", ["1", "2"])
def test_global_minima_script(tmp_path, d0):
    out = tmp_path / "out"
    assert global_minima.main(["--d0", d0, *GM_TINY, "--out", str(out)]) == 0
    res = json.loads((out / "results.json").read_text())
    assert len(res["cells"]) == 4
    for c in res["cells"]:
        assert c["yes"] + c["no"] + c["failed"] == c["regions"] == 6
        assert c["reference_agree"] == c["reference_checked"]
    assert res["reference_check"] == {"checked": 24, "agree": 24}
    assert (out / "global_minima.png").stat().st_size > 0
    assert not (out / "checkpoint.npz").exists()


_CALLS = {"n": 0}  # a global, so the fault hook's part identity does not change


def test_global_minima_resumes_and_is_worker_independent(tmp_path, monkeypatch):
    args = ["--d0", "1", *GM_TINY]
    assert global_minima.main([*args, "--out", str(tmp_path / "a")]) == 0
    with np.load(tmp_path / "a" / "instances.npz") as z:
        ref = {k: z[k] for k in z.files}

    from jaxnet.regions import minima

    real = minima.trial

    def dies(*args, **kwargs):  # the same closure in both runs: the same part
        _CALLS["n"] += 1
        if _CALLS["n"] == 11:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(minima, "trial", dies)
    _CALLS["n"] = 0
    with pytest.raises(KeyboardInterrupt):
        global_minima.main([*args, "--out", str(tmp_path / "b")])
    (ckpt,) = (tmp_path / "b").glob("checkpoint-*.npz")
    with np.load(ckpt) as z:
        assert z["done"].sum() == 10
    _CALLS["n"] = -1000
    assert global_minima.main([*args, "--out", str(tmp_path / "b")]) == 0
    assert _CALLS["n"] == -1000 + 24 - 10  # only the unfinished trials ran
    with np.load(tmp_path / "b" / "instances.npz") as z:
        got = {k: z[k] for k in z.files}
    for k in ("status", "method", "reference"):
        np.testing.assert_array_equal(got[k], ref[k])
    assert (ref["status"] != lp.FAILED).all()


@pytest.mark.parametrize(
    "bad",
    [
        ["--n", "0"],
        ["--regions", "0"],
        ["--tol", "2"],
        ["--workers", "-1"],
        ["--targets", "labels"],
    ],
)
def test_global_minima_bad_input(tmp_path, capsys, bad):
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as exc:
        raise SystemExit(global_minima.main([*bad, "--out", str(out)]))
    assert exc.value.code == 2 and not out.exists()
    assert "--" in capsys.readouterr().err.strip().splitlines()[-1]


@pytest.mark.slow
def test_binary_singularity_script_matches_exact(tmp_path):
    out = tmp_path / "out"
    assert (
        binary_singularity.main(
            [
                "--n",
                "1",
                "2",
                "3",
                "4",
                "12",
                "--trials",
                "3000",
                "--no-progress",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    res = json.loads((out / "results.json").read_text())
    exact = {1: 1 / 2, 2: 10 / 16, 3: 338 / 512, 4: 42976 / 65536}
    for c in res["cells"]:
        if c["n"] in exact:
            assert c["exact"] == pytest.approx(exact[c["n"]], abs=1e-15)
            # 3000 trials: the estimate within 4 standard errors of the exact value
            se = np.sqrt(exact[c["n"]] * (1 - exact[c["n"]]) / 3000)
            assert abs(c["p"] - exact[c["n"]]) < 4 * se
        assert c["prime_misjudged"] == 0
    assert res["c1"] > 0 and (out / "binary_singularity.png").stat().st_size > 0
    assert binary_singularity.main(["--n", "0", "--out", str(tmp_path / "x")]) == 2
