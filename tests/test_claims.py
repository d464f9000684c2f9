"""The verdict criteria (jaxnet.claims) on synthetic results: each verdict both ways."""

import math

import numpy as np

from jaxnet import claims, stats


def _fig4(slope_fixed: float, slope_ratio: float, trials=50):
    cells = []
    for panel, slope in (("d0=1", slope_fixed), ("ratio=0.5", slope_ratio)):
        for n in (10, 20, 30, 40):
            threshold = 30 + slope * n
            for d1 in range(30, 601, 30):
                cells.append(
                    {
                        "panel": panel,
                        "n": n,
                        "d1": d1,
                        "trials": trials,
                        "p": 1.0 if d1 >= threshold else 0.0,
                    }
                )
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
    cell = {
        "panel": "d0=1",
        "n": 10,
        "d1": 30,
        "exact": {
            "checked": 6,
            "float_full_exact_deficient": wrong,
            "float_deficient_exact_full": 0,
        },
    }
    return {"fig4_exact": {"cells": [cell]}}


def test_exact_cross_check_verdict():
    assert _verdicts(claims.claims_exact(_exact(0))) == ["beyond the documents"]
    assert _verdicts(claims.claims_exact(_exact(1))) == ["not reproduced"]


def _peer(k: int, t: int = 1000):
    cells = []
    for (d0, n, d1), ref in claims.REFERENCE_PEER.items():
        kk = k if (d0, n, d1) == (1, 20, 300) else round(ref * t)
        cells.append(
            {
                "d0": d0,
                "n": n,
                "d1": d1,
                "full_rank": kk,
                "trials": t,
                "near_threshold": 0,
            }
        )
    return {"fig4_peer": {"cells": cells}}


def test_peer_numbers_within_and_outside_the_two_sample_band():
    # reference 0.15 from 100 trials: 0.16 is well inside, 0.40 far outside 3.29 sd
    assert _verdicts(claims.claims_peer(_peer(160)))[0] == "reproduced"
    assert _verdicts(claims.claims_peer(_peer(400)))[0] == "not reproduced"


def _thm3(base: float):
    cells = [
        {"n": n, "p": base**n, "singular": 1000, "trials": 10**5} for n in range(5, 15)
    ]
    return {"thm3": {"cells": cells, "c1": 1.0}}


def test_theorem3_decay_criterion():
    (row,) = [r for r in claims.claims_regions(_thm3(0.65)) if "Theorem 3" in r[0]]
    assert row[4] == "reproduced" and "0.650" in row[2]
    (row,) = [r for r in claims.claims_regions(_thm3(0.8)) if "Theorem 3" in r[0]]
    assert row[4] == "not reproduced"


def _thm9(p_wide: float):
    cfg = {"theorem": 9, "d0": 1, "eps": 0.5, "c1": 8.5}
    cells = [
        {
            "n": 5,
            "d1": d1,
            "trials": 100,
            "full_rank": round(100 * p),
            "p": round(100 * p) / 100,
        }
        for d1, p in ((2, 0.1), (60, p_wide))
    ]
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
    rows = claims.claims_threshold(
        {
            "threshold_law": {
                "fits": {"d0=1": _law_fits(1.5)},
                "cells": [{"n": 50, "trials": 10, "censored": 0}],
            }
        }
    )
    assert rows[1][4] == "not reproduced" and "n^1.5" in rows[1][2]
    rows = claims.claims_threshold(
        {
            "threshold_d0": {
                "fits": {"d0=3": _law_fits(1.0)},
                "cells": [{"n": 50, "trials": 10, "censored": 0}],
            }
        }
    )
    assert rows[1][4] == "reproduced"
    assert claims.claims_threshold({})[0][4] == "not tested"


def _gm(p_wide: float, rising: bool):
    cells = []
    for n in (10, 20, 30, 40):
        for d1, p in ((100, 0.5), (1000, p_wide if rising else 0.2)):
            yes = round(100 * p)
            cells.append(
                {
                    "panel": "d0=1",
                    "n": n,
                    "d1": d1,
                    "regions": 100,
                    "yes": yes,
                    "no": 100 - yes,
                    "failed": 0,
                    "p": yes / 100,
                }
            )
    return {"cells": cells, "reference_check": {"agree": 10, "checked": 10}}


def test_global_minima_rows_fail_when_the_fraction_does_not_rise():
    ok = claims.claims_regions({"fig5": _gm(0.99, rising=True)})
    assert ok[0][4] == "reproduced"
    assert (
        claims.claims_regions({"fig5": _gm(0.99, rising=False)})[0][4]
        == "not reproduced"
    )
    assert (
        claims.claims_regions({"fig6": _gm(0.5, rising=True)})[0][4] == "not reproduced"
    )  # rises, but not towards 1


def test_theorem3_fails_when_the_sampler_check_fails():
    res = _thm3(0.65)
    res["thm3"]["cells"].append(
        {
            "n": 3,
            "p": 0.64,
            "exact": 169 / 256,
            "exact_fraction": "169/256",
            "singular": 640000,
            "trials": 10**6,
        }
    )
    (row,) = [r for r in claims.claims_regions(res) if "Theorem 3" in r[0]]
    assert row[4] == "not reproduced" and "FAILED" in row[2]
    res["thm3"]["cells"][-1]["p"] = 169 / 256 + 1e-4  # z ≈ 0.2
    (row,) = [r for r in claims.claims_regions(res) if "Theorem 3" in r[0]]
    assert (
        row[4] == "reproduced" and "passed" in row[2] and "1000000 at n ≤ 3" in row[3]
    )


def _lemma1(tested: int, certified: int, undecided: int = 0, p_full: float = 1.0):
    reached = 5 - tested - undecided
    cell = {
        "depth": 2,
        "panel": "d0=2",
        "d0": 2,
        "n": 10,
        "d1": 10,
        "trials": 5,
        "p": reached / 5,
        "p_ci95": list(stats.wilson_interval(reached, 5)),
        "p_full_rank_init": p_full,
        "p_full_rank_init_ci95": list(stats.wilson_interval(round(5 * p_full), 5)),
        "classes": {"a": reached, "b": tested, "c": 0, "d": undecided},
        "outcomes": {
            "reached": reached,
            "critical_deficient": tested,
            "critical_full": 0,
            "budget": undecided,
            "diverged": 0,
            "flow_reaches": 0,
            "flow_deficient": 0,
        },
        "validation": {"trials": 2, "same_class": 2, "table": [[0] * 7] * 7},
        "gradient_bound_violations": 0,
        "lemma1": {
            "critical_tested": tested,
            "critical_full_certified": certified,
            "critical_max_s_ratio_over_rtol": 3.0 if tested else None,
        },
    }
    cfg = {"steps": 10, "loss_tol": 1e-4, "grad_tol": 1e-6}
    return {"gradient_descent": {"cells": [cell], "config": cfg}}


def test_gd_rows_can_fail_and_state_the_finding():
    """The classes row fails above 5% undecided; the finding names what GD follows by
    the overlap of the intervals, and "neither" where they do not overlap."""
    rows = claims.claims_further(_lemma1(0, 0))
    (classes,) = [r for r in rows if "(d) undecided (target" in r[0]]
    assert classes[4] == "beyond the documents"
    assert "the face rule's error, measured on 2 runs" in classes[2]
    rows = claims.claims_further(_lemma1(0, 0, undecided=1))
    (classes,) = [r for r in rows if "(d) undecided (target" in r[0]]
    assert classes[4] == "undecided 1/5 > 5%"
    (finding,) = [r for r in claims.claims_further(_lemma1(0, 0)) if "follow" in r[0]]
    assert "GD follows full-rank (" in finding[2]  # p = 1 and P(full rank) = 1
    (finding,) = [
        r for r in claims.claims_further(_lemma1(5, 0, p_full=1.0)) if "follow" in r[0]
    ]
    assert "GD follows neither" in finding[2]  # p = 0 against P(full rank) = 1


def test_lemma1_row_can_fail_and_the_matrix_identity_is_only_a_consistency_check():
    rows = claims.claims_further(_lemma1(3, 0))
    lemma = [r for r in rows if r[0].startswith("Slides, Lemma 1")]
    assert [r[4] for r in lemma] == ["reproduced"]
    assert "0 of 3 critical end points" in lemma[0][2]
    assert [
        r[4]
        for r in claims.claims_further(_lemma1(3, 1))
        if r[0].startswith("Slides, Lemma 1")
    ] == ["not reproduced"]
    assert [
        r[4]
        for r in claims.claims_further(_lemma1(0, 0))
        if r[0].startswith("Slides, Lemma 1")
    ] == ["not tested at this scale"]
    (check,) = [r for r in rows if r[0].startswith("Consistency check")]
    assert check[4] == "consistent"


def test_affine_threshold_law_counts_as_linear():
    from jaxnet.experiments import threshold

    rng = np.random.default_rng(1)
    n = np.arange(20, 301, 20)
    m = (12 + n / 3) * np.exp(rng.normal(0, 0.005, len(n)))
    fit = threshold.fit_law(n, m, m * np.exp(rng.normal(0, 0.005, (100, len(n)))))
    assert fit["best"] == "c0+c1*n"
    np.testing.assert_allclose(fit["models"]["c0+c1*n"]["c1"], 1 / 3, rtol=0.05)
    assert claims.threshold_law_verdict({"d0=2": fit})["d0=2"]["linear"]
    rows = claims.claims_threshold(
        {
            "threshold_d0": {
                "fits": {"d0=2": fit},
                "cells": [{"n": 20, "trials": 10, "censored": 0}],
            }
        }
    )
    assert rows[1][4] == "reproduced" and "c0+c1*n" in rows[1][2]


def test_cross_checks_fail_on_disagreements():
    fc = {
        "disagree": 2,
        "decisions": 10,
        "borderline": 0,
        "cells": 1,
        "trials_per_cell": 5,
    }
    rows = claims.claims_threshold(
        {
            "threshold_fig4": {"float_check": fc, "cells": [{"trials": 5}]},
            "threshold_law": {
                "fits": {"d0=1": _law_fits(1.5)},
                "cells": [{"n": 50, "trials": 10, "censored": 0}],
            },
        }
    )
    assert rows[-1][4] == "not reproduced"
    deep = {
        "deep_rank": {
            "cells": [{"trials": 5}],
            "thresholds": [],
            "fig4_check": {"d0=2": {"disagree": 1, "decisions": 9}},
        }
    }
    assert [r[4] for r in claims.claims_further(deep) if "vmap(jacrev)" in r[0]] == [
        "not reproduced"
    ]


def _condensation(bound=0.836, sq_norm=5.99, condensed=95):
    summary = {
        "seeds": 100,
        "sgd": {
            "sq_norm_mean": sq_norm,
            "sq_norm_min": 5.9,
            "sq_norm_max": 6.0,
            "condensed": condensed,
            "aligned_mass_fraction_mean": 0.9,
        },
        "exact": {"solved": 0, "theorem52_checked": 5, "theorem52_confirmed": 4},
    }
    return {
        "condensation": {
            "config": {"angle_tol": 0.05},
            "per_N": [
                {
                    "N": 40,
                    "eq12_bound": bound,
                    "p_hypothesis_exact": 0.84,
                    "summary": summary,
                }
            ],
        }
    }


def test_report_rows_fail_on_contradicting_numbers():
    ok = _verdicts(claims.claims_report(_condensation()))
    assert ok[:3] == ["reproduced", "reproduced", "reproduced"]
    assert ok[-1] == "not reproduced"  # Theorem 5.2: 4 of 5 confirmed
    bad = _verdicts(claims.claims_report(_condensation(0.5, 5.5, 10)))
    assert bad[:3] == ["not reproduced"] * 3


def _sweep(decreasing: bool):
    cells = [
        {
            "lam": lam,
            "seeds": 10,
            "converged": 10,
            "condensed": 10,
            "off_mass": {"mean": lam if decreasing else 0.1},
            "teacher_distance": {"mean": lam},
            "max_angle": {"mean": 0.01},
        }
        for lam in (1e-2, 1e-3, 1e-4)
    ]
    fits = {
        "off_mass": {"b": 1.0, "b_ci95": [0.9, 1.1] if decreasing else [-0.1, 0.1]},
        "teacher_distance": {"b": 1.0, "b_ci95": [0.9, 1.1]},
    }
    return {"condensation_sweep": {"per_N": [{"N": 40, "cells": cells, "fits": fits}]}}


def test_sweep_rows_fail_when_the_student_does_not_approach_condensation():
    assert _verdicts(claims.claims_report(_sweep(True)))[0] == "reproduced"
    assert _verdicts(claims.claims_report(_sweep(False)))[0] == "not reproduced"
