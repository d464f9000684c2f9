import json

import full_rank
import numpy as np
import pytest

from jaxnet.rank import jacobian

TINY = "--n 4 6 --d1 2 5 --trials 4 --chunk 2 --no-progress".split()


@pytest.mark.parametrize("convention", ["paper", "peer"])
@pytest.mark.slow
def test_full_rank_script_writes_results(tmp_path, convention):
    out = tmp_path / "out"
    assert (
        full_rank.main(
            ["--convention", convention, "--d0", "1", "2", *TINY, "--out", str(out)]
        )
        == 0
    )
    res = json.loads((out / "results.json").read_text())
    assert len(res["cells"]) == 2 * 2 * 2
    for c in res["cells"]:  # the documented fields, and the decisions behind them
        assert {"d0", "n", "d1", "trials", "full_rank", "p"} <= set(c)
    codes = np.load(out / "trials.npz")["d0_code"]
    assert [c["full_rank"] for c in res["cells"]] == np.isin(
        codes, jacobian.FULL_CODES
    ).sum(axis=1).tolist()
    assert res["metadata"]["x64"] is True and res["config"]["seed"] == 0
    assert (out / "full_rank_d0.png").stat().st_size > 0
    assert not list(out.glob("checkpoint-*"))


@pytest.mark.slow
def test_ratio_family_and_rerun_gives_same_numbers(tmp_path):
    args = ["--ratio", "0.5", "2", *TINY]
    assert full_rank.main([*args, "--out", str(tmp_path / "a")]) == 0
    assert full_rank.main([*args, "--chunk", "5", "--out", str(tmp_path / "b")]) == 0
    a = json.loads((tmp_path / "a" / "results.json").read_text())["cells"]
    b = json.loads((tmp_path / "b" / "results.json").read_text())["cells"]
    assert [c["full_rank"] for c in a] == [c["full_rank"] for c in b]
    assert {c["d0"] for c in a} == {2, 3, 8, 12}


@pytest.mark.parametrize(
    "bad",
    [
        ["--n", "0"],
        ["--d1", "-3"],
        ["--ratio", "0"],
        ["--trials", "0"],
        ["--chunk", "-1"],
        ["--rtol", "2"],
        ["--d0"],
        ["--convention", "torch"],
    ],
)
def test_bad_input_exits_2_and_writes_nothing(tmp_path, capsys, bad):
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as exc:
        code = full_rank.main([*bad, "--out", str(out)])
        raise SystemExit(code)
    assert exc.value.code == 2
    assert not out.exists()
    err = capsys.readouterr().err.strip().splitlines()
    assert err and ("--" in err[-1])


def test_unwritable_out_is_rejected(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert full_rank.main([*TINY, "--out", str(blocker / "sub")]) == 2
    assert "--out" in capsys.readouterr().err
