"""Claims about gradient descent to its end (the slides' further topic 'gradient
descent', ``gradient_descent``): the classes (a)-(d), the face rule's measured error,
the finding (which boundary GD's success follows) and Lemma 1 at the end points."""

from __future__ import annotations

import numpy as np

from jaxnet import stats
from jaxnet.claims._common import _fmt_p

FOLLOWS = 0.8  # GD follows a boundary iff the 95% intervals overlap in 80% of cells


def gd_boundary_finding(results: dict) -> list[dict]:
    """Per (depth, panel) of a ``gradient_descent`` run: does P(GD reaches) follow
    P(full-rank J at init) (Figure 4, the same trials) or P(a random region holds a
    global minimum) (Figures 5/6, depth 2)? Cell by cell, the two 95% Wilson intervals
    either overlap or one lies below the other; GD *follows* a boundary where they
    overlap in at least ``FOLLOWS`` of the cells. Also the p = 1/2 boundaries' mean
    distance in grid steps (over the n where both cross 1/2 in the grid) and how many
    n GD's boundary never crosses."""
    cells = results["cells"]
    gm = results.get("global_minima_cells", [])
    out = []
    for depth, panel in dict.fromkeys((c["depth"], c["panel"]) for c in cells):
        sub = [c for c in cells if c["panel"] == panel and c["depth"] == depth]
        ns, d1s = sorted({c["n"] for c in sub}), sorted({c["d1"] for c in sub})
        gd_line = stats.grid_crossing(sub, ns, d1s, "p")
        row = {"depth": depth, "panel": panel, "cells": len(sub)}
        refs = {"full_rank": (sub, "p_full_rank_init", "p_full_rank_init_ci95")}
        gsub = {(c["n"], c["d1"]): c for c in gm if c["panel"] == panel}
        if depth == 2 and gsub:
            refs["global_min_region"] = (
                [gsub.get((c["n"], c["d1"])) for c in sub],
                "p",
                "p_ci95",
            )
        for name, (ref, key, ci) in refs.items():
            sides = [
                stats.interval_side(c["p_ci95"], r[ci])
                for c, r in zip(sub, ref, strict=True)
                if r
            ]
            line = stats.grid_crossing([r for r in ref if r], ns, d1s, key)
            both = np.isfinite(gd_line) & np.isfinite(line)
            row[name] = {
                "gd_below": sides.count(-1),
                "overlap": sides.count(0),
                "gd_above": sides.count(1),
                "follows": sides.count(0) >= FOLLOWS * len(sides),
                "boundary_steps": float(np.mean(np.abs(gd_line - line)[both]))
                if both.any()
                else None,
            }
        row["gd_boundary_missing"] = int((~np.isfinite(gd_line)).sum())
        out.append(row)
    return out


def gd_rule_error(cells) -> tuple[int, int]:
    """``(changed, validated)`` of a ``gradient_descent`` run: validated runs whose
    class at ``steps`` differs from their class with the longer validation budget."""
    val = [c["validation"] for c in cells if "validation" in c]
    return (
        sum(v["trials"] - v["same_class"] for v in val),
        sum(v["trials"] for v in val),
    )


def _gd_rows(res, name="gradient_descent"):
    cells = res["cells"]
    classes = list(cells[0]["classes"])
    outcomes = list(cells[0]["outcomes"])
    bound = sum(c["gradient_bound_violations"] for c in cells)
    panels = list(dict.fromkeys(f"L={c['depth']} {c['panel']}" for c in cells))
    parts, undecided = [], 0
    for panel in panels:
        sub = [c for c in cells if f"L={c['depth']} {c['panel']}" == panel]
        k = {x: sum(c["classes"][x] for c in sub) for x in classes}
        o = {x: sum(c["outcomes"][x] for c in sub) for x in outcomes}
        t = sum(c["trials"] for c in sub)
        undecided += k["d"]
        parts.append(
            f"{panel}: (a) reaches {_fmt_p(k['a'], t)} ({o['reached']} within the "
            f"budget, {o['flow_reaches']} by the face rule), (b) rank-deficient "
            f"critical point {_fmt_p(k['b'], t)} ({o['critical_deficient']} critical "
            f"at the end, {o['flow_deficient']} by the face rule), (c) full-rank "
            f"critical {k['c']}, (d) undecided {k['d']} ({o['diverged']} diverged)"
        )
    total = sum(c["trials"] for c in cells)
    changed, validated = gd_rule_error(cells)
    if validated:
        lo, hi = stats.wilson_interval(changed, validated)
        parts.append(
            f"the face rule's error, measured on {validated} runs rerun with a "
            f"longer budget (results' face_rule): {changed} changed class "
            f"({changed / validated:.3f} [{lo:.3f}, {hi:.3f}])"
        )
    cfg = res["config"]
    scale = (
        f"{cells[0]['trials']} initializations/cell, {cfg['steps']} GD steps then the "
        f"face rule, loss_tol {cfg['loss_tol']:g}, grad_tol {cfg['grad_tol']:g}"
    )
    findings = []
    for f in gd_boundary_finding(res):
        refs = [x for x in ("full_rank", "global_min_region") if x in f]
        says = [
            f"{x.replace('_', '-')}: intervals overlap in {f[x]['overlap']}/"
            f"{f['cells']} cells (GD below in {f[x]['gd_below']}, above in "
            f"{f[x]['gd_above']})"
            + (
                f", p = 1/2 boundaries {f[x]['boundary_steps']:.1f} grid steps apart"
                if f[x]["boundary_steps"] is not None
                else ""
            )
            for x in refs
        ]
        follows = [x.replace("_", "-") for x in refs if f[x]["follows"]]
        findings.append(
            f"L={f['depth']} {f['panel']}: GD follows "
            f"{' and '.join(follows) if follows else 'neither'} ("
            + "; ".join(says)
            + (
                f"; GD's p never reaches 1/2 at {f['gd_boundary_missing']} of the n"
                if f["gd_boundary_missing"]
                else ""
            )
            + ")"
        )
    return [
        (
            "Beyond: gradient descent to its end from random initializations: "
            "(a) a global minimum, (b) a rank-deficient critical point, (c) a "
            "full-rank critical point, (d) undecided (target: at most 5% in (d))",
            "— (slides: further topic 'gradient descent')",
            "; ".join(parts),
            scale,
            "beyond the documents"
            if undecided <= 0.05 * total
            else f"undecided {undecided}/{total} > 5%",
            f"{name}/gd_classes.png",
        ),
        (
            "Beyond: does GD's success follow the full-rank boundary (Figure 4, "
            "same trials) or the global-minimum-region boundary (Figures 5/6)? "
            f"(follows: 95% intervals overlap in >= {FOLLOWS:.0%} of the cells)",
            "— (slides: further topic 'gradient descent')",
            "; ".join(findings),
            scale,
            "beyond the documents",
            f"{name}/gd_boundaries.png",
        ),
        lemma1_row(cells, scale, f"{name}/gd_losses.png"),
        (
            "Consistency check (true of every matrix, not a test of Lemma 1): at a "
            "full-rank end point ||J^T r|| >= s_n(J) ||r||, with the autodiff gradient",
            "—",
            f"{bound} end points violate it (of {total})",
            scale,
            "consistent" if bound == 0 else "inconsistent: gradient, J or SVD wrong",
            f"{name}/gd_losses.png",
        ),
    ]


def lemma1_row(cells, scale: str, fig: str):
    """Lemma 1 tested at GD's end points: critical end points (not global minima) with
    a certified full-rank Jacobian would contradict it. "not tested" without any
    critical end point."""
    tests = [c["lemma1"] for c in cells if "lemma1" in c]
    claim = (
        "Slides, Lemma 1 at gradient descent's end points: a critical point with "
        "a full-rank Jacobian is a global minimum"
    )
    doc = "full-rank Jacobian at a critical point => global minimum"
    if not tests:
        return (
            claim,
            doc,
            "not recorded by this run",
            scale,
            "not tested at this scale",
            fig,
        )
    tested = sum(t["critical_tested"] for t in tests)
    bad = sum(t["critical_full_certified"] for t in tests)
    closest = [
        t["critical_max_s_ratio_over_rtol"]
        for t in tests
        if t["critical_max_s_ratio_over_rtol"] is not None
    ]
    measured = (
        f"{bad} of {tested} critical end points with loss > loss_tol have a "
        "certified full-rank J (s_n/s_1 > 2·max(n, P)·eps)"
        + (
            f"; closest to full rank: s_n/s_1 = {max(closest):.3g}·rtol"
            if closest
            else ""
        )
    )
    if tested == 0:
        verdict = "not tested at this scale"
    else:
        verdict = "reproduced" if bad == 0 else "not reproduced"
    return claim, doc, measured, scale, verdict, fig
