"""The verdict criteria (jaxnet.claims) on synthetic results: each verdict both ways."""

import math

import numpy as np

from jaxnet import claims


def _fig4(slope_fixed: float, slope_ratio: float, trials=50):
    cells = []
    for panel, slope in (("d0=1", slope_fixed), ("ratio=0.5", slope_ratio)):
        for n in (10, 20, 30, 40):
            threshold = 30 + slope * n
            for d1 in range(30, 601, 30):
                cells.append({"panel": panel, "n": n, "d1": d1, "trials": trials,
                              "p": 1.0 if d1 >= threshold else 0.0})
    return {"cells": cells}


def _verdicts(rows):
    return [row[4] for row in rows]


def test_fig4_linear_growth_and_flat_ratio_panel_reproduce():
    rows = claims.claims_fig4({"fig4": _fig4(slope_fixed=3.0, slope_ratio=0.0)})
    assert _verdicts(rows) == ["reproduced", "reproduced"]
    assert "+3.00 width per data point" in rows[0][2]


def test_fig4_growing_ratio_panel_is_not_reproduced():
    rows = claims.claims_fig4({"fig4": _fig4(slope_fixed=3.0, slope_ratio=3.0)})
    assert _verdicts(rows) == ["reproduced", "not reproduced"]


def test_fig4_missing_is_not_tested():
    assert _verdicts(claims.claims_fig4({})) == ["not tested"]


def _exact(wrong: int):
    cell = {"panel": "d0=1", "n": 10, "d1": 30,
            "exact": {"checked": 6, "float_full_exact_deficient": wrong,
                      "float_deficient_exact_full": 0}}
    return {"fig4_exact": {"cells": [cell]}}


def test_exact_cross_check_verdict():
    assert _verdicts(claims.claims_exact(_exact(0))) == ["beyond the documents"]
    assert _verdicts(claims.claims_exact(_exact(1))) == ["not reproduced"]


def _peer(k: int, t: int = 1000):
    cells = []
    for (d0, n, d1), ref in claims.REFERENCE_PEER.items():
        kk = k if (d0, n, d1) == (1, 20, 300) else round(ref * t)
        cells.append({"d0": d0, "n": n, "d1": d1, "full_rank": kk, "trials": t,
                      "near_threshold": 0})
    return {"fig4_peer": {"cells": cells}}


def test_peer_numbers_within_and_outside_the_two_sample_band():
    # reference 0.15 from 100 trials: 0.16 is well inside, 0.40 far outside 3.29 sd
    assert _verdicts(claims.claims_peer(_peer(160)))[0] == "reproduced"
    assert _verdicts(claims.claims_peer(_peer(400)))[0] == "not reproduced"


def _thm3(base: float):
    cells = [{"n": n, "p": base**n, "singular": 1000, "trials": 10**5}
             for n in range(5, 15)]
    return {"thm3": {"cells": cells, "c1": 1.0}}


def test_theorem3_decay_criterion():
    (row,) = [r for r in claims.claims_regions(_thm3(0.65)) if "Theorem 3" in r[0]]
    assert row[4] == "reproduced" and "0.650" in row[2]
    (row,) = [r for r in claims.claims_regions(_thm3(0.8)) if "Theorem 3" in r[0]]
    assert row[4] == "not reproduced"


def _thm9(p_wide: float):
    cfg = {"theorem": 9, "d0": 1, "eps": 0.5, "c1": 8.5}
    cells = [{"n": 5, "d1": d1, "trials": 100, "full_rank": round(100 * p),
              "p": round(100 * p) / 100}
             for d1, p in ((2, 0.1), (60, p_wide))]
    return {"thm9": {"config": cfg, "cells": cells}}


def test_theorem9_verdict_uses_the_upper_confidence_bound():
    # width 2·5·log(10) ≈ 23: only d1 = 60 is covered; 1 − ε = 0.5
    row = claims.claims_regions(_thm9(0.45))[0]
    assert row[4] == "reproduced"  # 45/100: the 95% upper bound is above 0.5
    row = claims.claims_regions(_thm9(0.2))[0]
    assert row[4] == "not reproduced"
    assert not math.isnan(float(row[2].split("= ")[1].split()[0]))


def _law_fits(exponent, noise=0.01, seed=0):
    from jaxnet.experiments import threshold

    rng = np.random.default_rng(seed)
    n = np.arange(50, 1001, 50)
    m = 2.0 * n**exponent * np.exp(rng.normal(0, noise, len(n)))
    boot = m * np.exp(rng.normal(0, noise, (200, len(n))))
    return threshold.fit_law(n, m, boot)


def test_threshold_law_verdict_linear_and_superlinear():
    v = claims.threshold_law_verdict({"d0=3": _law_fits(1.0), "d0=1": _law_fits(1.5)})
    assert v["d0=3"]["linear"] and not v["d0=1"]["linear"]
    assert v["d0=1"]["a_ci95"][0] > 1.4
    rows = claims.claims_threshold({"threshold_law": {
        "fits": {"d0=1": _law_fits(1.5)},
        "cells": [{"n": 50, "trials": 10, "censored": 0}]}})
    assert rows[1][4] == "not reproduced" and "n^1.5" in rows[1][2]
    rows = claims.claims_threshold({"threshold_d0": {
        "fits": {"d0=3": _law_fits(1.0)},
        "cells": [{"n": 50, "trials": 10, "censored": 0}]}})
    assert rows[1][4] == "reproduced"
    assert claims.claims_threshold({})[0][4] == "not tested"
