"""The slides' claims: Figure 4 (float, exact, the reference code's convention), the
activation regions (Figures 5/6, Theorems 2 and 9, Lemma 8) and Theorem 3."""

from __future__ import annotations

import math

import numpy as np

from jaxnet import stats
from jaxnet.claims._common import _fmt_p, _slope, _thresholds
from jaxnet.rank import theory


def claims_fig4(r):
    res = r.get("fig4")
    if res is None:
        return [("Slides, Fig. 4", "—", "not run", "", "not tested", "")]
    cells = res["cells"]
    trials = cells[0]["trials"]
    panels = sorted({c["panel"] for c in cells})
    fixed, ratio = {}, {}
    grid_min = min(c["d1"] for c in cells if c["panel"].startswith("d0="))
    for panel in panels:
        th = _thresholds(cells, panel)
        pts = [(n, d1) for n, d1 in th.items() if d1 is not None]
        (fixed if panel.startswith("d0=") else ratio)[panel] = (pts, th)
    resolved = {
        p: _slope(pts)
        for p, (pts, _) in fixed.items()
        if len(pts) >= 2 and max(d for _, d in pts) > grid_min
    }
    unresolved = [p for p in fixed if p not in resolved]
    ok_fixed = bool(resolved) and all(s > 0 for s in resolved.values())
    measured = "; ".join(
        f"{p}: +{s:.2f} width per data point" for p, s in resolved.items()
    )
    if unresolved:
        measured += (
            f" ({', '.join(unresolved)}: full rank already at the grid's smallest "
            f"width d1 = {grid_min} for every n)"
        )
    no_threshold = [
        f"{p} n ≥ {min(n for n, d in th.items() if d is None)}"
        for p, (_, th) in fixed.items()
        if None in th.values()
    ]
    if no_threshold:
        measured += "; no width of the grid reaches p ≥ 1/2 for " + ", ".join(
            no_threshold
        )
    rows = [
        (
            "Slides, Fig. 4 (left): d0 fixed, the smallest width with full rank grows "
            "linearly in n",
            "smallest d1 with P(full rank) ≥ 1/2 grows linearly in n",
            measured,
            f"{trials} trials/cell",
            "reproduced" if ok_fixed else "not reproduced",
            "fig4/full_rank_d0.png",
        )
    ]
    ratio_slopes = {p: _slope(pts) for p, (pts, _) in ratio.items()}
    limit = 0.1 * min(resolved.values()) if resolved else float("nan")
    ok_ratio = all(abs(s) <= limit for s in ratio_slopes.values())
    rows.append(
        (
            "Slides, Fig. 4 (right): d0 = ⌈ratio·n⌉, the width needed stays roughly constant",
            "threshold width roughly constant in n",
            "; ".join(
                f"{p}: d1* from {min(d for _, d in pts)} to {max(d for _, d in pts)} "
                f"(slope {s:+.3f}/point)"
                for (p, (pts, _)), s in zip(
                    ratio.items(), ratio_slopes.values(), strict=True
                )
            )
            + f"; criterion: |slope| ≤ 0.1 × smallest fixed-d0 slope = {limit:.3f}",
            f"{trials} trials/cell",
            "reproduced" if ok_ratio else "not reproduced",
            "fig4/full_rank_ratio.png",
        )
    )
    return rows


def claims_exact(r):
    res = r.get("fig4_exact")
    if res is None:
        return []
    ex = [(c, c["exact"]) for c in res["cells"] if c["exact"]["checked"]]
    checked = sum(e["checked"] for _, e in ex)
    wrong = sum(e["float_full_exact_deficient"] for _, e in ex)
    border = [(c, e) for c, e in ex if e["float_deficient_exact_full"]]
    where = ", ".join(f"{c['panel']} n={c['n']} d1={c['d1']}" for c, _ in border[:6])
    return [
        (
            "Every float rank decision of Fig. 4 cross-checked against the exact generic rank "
            "(integer data, the trial's activation pattern, Khatri–Rao Gram rank modulo two "
            "primes ≈ 2³¹; Lemma 4)",
            "—",
            f"{checked} trials: float full but exactly deficient {wrong}; float deficient but "
            f"exactly full {sum(e['float_deficient_exact_full'] for _, e in border)} "
            f"(numerically borderline: s_n ≤ rtol·s_1 although J is nonsingular) in "
            f"{len(border)} cells{': ' + where if where else ''}",
            f"{res['cells'][0]['exact']['checked']} trials/cell",
            "beyond the documents" if wrong == 0 else "not reproduced",
            "fig4_exact/full_rank_d0.png",
        )
    ]


REFERENCE_PEER = {  # REFERENCE_CODE.md: the reference code's float32-rule values
    (1, 20, 300): 0.15,
    (2, 60, 150): 0.63,
    (5, 90, 30): 0.42,
}


def claims_peer(r):
    res = r.get("fig4_peer")
    if res is None:
        return []
    rows = []
    for (d0, n, d1), ref in REFERENCE_PEER.items():
        cell = next(
            c for c in res["cells"] if (c["d0"], c["n"], c["d1"]) == (d0, n, d1)
        )
        k, t = cell["full_rank"], cell["trials"]
        # Two-sample test at 99.9%: the reference's own 100 trials are noisy too.
        p = k / t
        sd = math.sqrt(max(p * (1 - p), 1e-4) * (1 / 100 + 1 / t))
        rows.append(
            (
                f"Reference code (PyTorch), peer convention, d0={d0}, n={n}, d1={d1}",
                f"{ref:.2f} (100 trials, float32 rule)",
                f"{_fmt_p(k, t)}; {cell['near_threshold']} trials within a factor 2 of "
                f"the float32 threshold",
                f"{t} trials",
                "reproduced" if abs(ref - p) <= 3.29 * sd else "not reproduced",
                "fig4_peer/full_rank_d0.png",
            )
        )
    return rows


def _global_minima_rows(res, label, fig):
    cells = res["cells"]
    rows = []
    for panel in sorted({c["panel"] for c in cells}):
        sub = [c for c in cells if c["panel"] == panel]
        widest = max(c["d1"] for c in sub)
        last = [c for c in sub if c["d1"] == widest]
        k = sum(c["yes"] for c in last)
        t = sum(c["yes"] + c["no"] for c in last)
        failed = sum(c["failed"] for c in sub)
        by_n = {}
        for c in sub:
            by_n.setdefault(c["n"], []).append((c["d1"], c["p"]))
        rising = np.mean([max(v)[1] >= min(v)[1] for v in by_n.values() if len(v) > 1])
        rows.append(
            (
                f"Slides, {label}, {panel}: the fraction of activation regions holding a "
                "global minimum rises with the width",
                "rises towards 1 with d1 (Thm 11: for d1 ≳ n log n)",
                f"at the widest d1 = {widest}: {_fmt_p(k, t)}; p(widest d1) ≥ p(narrowest) "
                f"for {rising:.0%} of n; solver failures {failed}; reference agreement "
                f"{res['reference_check']['agree']}/{res['reference_check']['checked']}",
                f"{sub[0]['regions']} regions/cell",
                "reproduced"
                if rising >= 0.75 and k / max(t, 1) >= 0.9
                else "not reproduced",
                fig,
            )
        )
    return rows


def claims_regions(r):
    rows = []
    if r.get("fig5"):
        rows += _global_minima_rows(r["fig5"], "Fig. 5", "fig5/global_minima.png")
    if r.get("fig6"):
        rows += _global_minima_rows(r["fig6"], "Fig. 6", "fig6/global_minima.png")
    for name, thm in (("thm2", 2), ("thm9", 9)):
        res = r.get(name)
        if res is None:
            continue
        cfg = res["config"]
        eps = cfg["eps"]

        def width(n, cfg=cfg, thm=thm, eps=eps):
            if thm == 2:
                return float(theory.theorem2_width(n, cfg["d0"], eps, cfg["c1"]))
            return float(theory.theorem9_width(n, eps))

        covered = [c for c in res["cells"] if c["d1"] >= width(c["n"])]
        trials = res["cells"][0]["trials"]
        if not covered:
            rows.append(
                (
                    f"Slides, Theorem {thm}",
                    f"P(full rank) ≥ 1 − ε = {1 - eps} for d1 ≥ the theorem's width",
                    "no cell of the grid reaches the width",
                    f"{trials}/cell",
                    "not tested at this scale",
                    f"{name}/region_rank_{name}.png",
                )
            )
            continue
        k = sum(c["full_rank"] for c in covered)
        t = sum(c["trials"] for c in covered)
        worst = min(covered, key=lambda c: c["p"])
        hi = stats.wilson_interval(worst["full_rank"], worst["trials"])[1]
        rows.append(
            (
                f"Slides, Theorem {thm}: regions have a full-rank Jacobian w.p. ≥ 1 − ε "
                f"once d1 exceeds the theorem's width (ε = {eps}; exact generic rank)",
                f"≥ {1 - eps} for d1 ≥ width(n)",
                f"{len(covered)} cells at or past the width: {_fmt_p(k, t)}; worst cell "
                f"(n={worst['n']}, d1={worst['d1']}) {worst['p']:.2f}",
                f"{trials} regions/cell",
                "reproduced" if hi >= 1 - eps else "not reproduced",
                f"{name}/region_rank_{name}.png",
            )
        )
    res = r.get("thm3")
    if res is not None:
        exact = [c for c in res["cells"] if "exact" in c]
        check, sampler_ok = sampler_check(res["cells"])
        # The decay rate: least squares of log p_n on n where ≥ 10 draws were singular.
        fit = [
            (c["n"], math.log(c["p"]))
            for c in res["cells"]
            if c["n"] >= 5 and c["singular"] >= 10
        ]
        base = math.exp(_slope(fit)) if len(fit) >= 2 else float("nan")
        rows.append(
            (
                "Slides, Theorem 3: P(random n×n 0/1 matrix singular) = (1/√2 + o(1))ⁿ",
                "decays at least like (1/√2)ⁿ ≈ 0.707ⁿ (Theorem 2 uses C₁·0.72ⁿ)",
                f"fitted decay pⁿ ∝ {base:.3f}ⁿ over n = {fit[0][0] if fit else '-'}.."
                f"{fit[-1][0] if fit else '-'} (criterion: ≤ 0.72); C₁ = {res['c1']:.3f} "
                "(max p_n/0.72ⁿ)"
                + (
                    ". Sampler check against exact enumeration (family-wise level "
                    f"{SAMPLER_ALPHA:g}, Bonferroni), n ≤ "
                    f"{max(c['n'] for c in exact)} ("
                    + ", ".join(c["exact_fraction"] for c in exact)
                    + f"): {check}"
                    if exact
                    else ""
                ),
                _thm3_trials(res["cells"]),
                # The o(1) cannot be seen at finite n: the criterion is the base 0.72 that
                # Theorem 2 relies on, and a sampler that passes its exact check.
                "reproduced"
                if np.isfinite(base) and base <= 0.72 and sampler_ok
                else "not reproduced",
                "thm3/binary_singularity.png",
            )
        )
    if r.get("fig1_fig3"):
        rows.append(
            (
                "Slides, Figures 1 and 3 (activation fan; function space)",
                "figures",
                "recomputed from regions and zonotope vertices",
                "—",
                "reproduced (figure)",
                "fig1_fig3/fig1_region_fan.png",
            )
        )
    return rows


SAMPLER_ALPHA = 0.05  # family-wise level of Theorem 3's sampler check


def sampler_check(cells) -> tuple[str, bool]:
    """Theorem 3's sampler against exact enumeration (n ≤ 4): every estimate's z-score
    within the Bonferroni bound of family-wise level ``SAMPLER_ALPHA``, stated before
    the run; ``(text, passed)``. Passed vacuously without exact cells."""
    exact = [c for c in cells if "exact" in c]
    z_crit = float(stats.normal_quantile(1 - SAMPLER_ALPHA / 2 / max(1, len(exact))))
    zs = [
        (
            c["n"],
            c["trials"],
            (c["p"] - c["exact"])
            / math.sqrt(c["exact"] * (1 - c["exact"]) / c["trials"]),
        )
        for c in exact
    ]
    flagged = [f"n={n}: z = {z:+.1f}" for n, _, z in zs if abs(z) > z_crit]
    detail = ", ".join(f"n={n}: z = {z:+.2f}" for n, _, z in zs)
    if flagged:
        return f"FAILED, outside |z| ≤ {z_crit:.2f}: {', '.join(flagged)}", False
    return f"passed, all within |z| ≤ {z_crit:.2f} ({detail})", True


def _thm3_trials(cells) -> str:
    big = [c["trials"] for c in cells if "exact" not in c]
    small = [c["trials"] for c in cells if "exact" in c]
    parts = [f"{big[0]} matrices/n" if big else ""]
    if small:
        parts.append(
            f"{min(small)} at n ≤ {max(c['n'] for c in cells if 'exact' in c)}"
        )
    return "; ".join(p for p in parts if p)
