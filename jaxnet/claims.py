"""The claims of the two documents and the criteria that judge them: pure functions.

Each claim function takes the loaded results of the registry's experiments (``{name:
results.json dict or None}``; ``jaxnet.experiments.REGISTRY``) and returns rows
``(claim, the documents' statement, jaxnet's measured value, scale, verdict, figure)``.
A verdict is computed from the numbers by the criterion written in the function, never
by hand: "reproduced", "not reproduced", "beyond the documents" or "not tested at this
scale". ``scripts/reproduce.py`` writes them into ``REPORT.md``.
"""

from __future__ import annotations

import math

import numpy as np

from jaxnet import stats
from jaxnet.rank import theory


def _fmt_p(k: int, t: int) -> str:
    lo, hi = stats.wilson_interval(k, t)
    return f"{k}/{t} = {k / t:.3f} [{lo:.3f}, {hi:.3f}]"


def _thresholds(cells, panel):
    """n -> smallest d1 with p ≥ 1/2 (None if none) in one panel."""
    by_n = {}
    for c in cells:
        if c["panel"] == panel:
            by_n.setdefault(c["n"], []).append((c["d1"], c["p"]))
    return {
        n: next((d1 for d1, p in sorted(v) if p >= 0.5), None)
        for n, v in sorted(by_n.items())
    }


def _slope(points):
    xs, ys = zip(*points, strict=True)
    return float(np.polyfit(xs, ys, 1)[0]) if len(set(xs)) > 1 else float("nan")


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


def condensation_limit(block: dict) -> dict:
    """The criterion for the report's "the SGD + L2 student condenses", written down
    before looking (issue 12), on one N of ``condensation_sweep``: among converged
    runs, the student approaches condensation as λ → 0 iff the mean off-teacher mass
    (1 − mass within the angle tolerance) and the mean RMS distance to the teacher both
    decrease at every step down the λ grid, and both fitted exponents b (value ~ c·λ^b)
    have 95% intervals above 0 (so the fitted limit at λ → 0 is 0)."""
    cells = sorted(block["cells"], key=lambda c: -c["lam"])  # λ decreasing
    out = {}
    for field in ("off_mass", "teacher_distance"):
        means = [c[field]["mean"] for c in cells]
        out[f"{field}_decreasing"] = bool(
            len(means) >= 2 and np.all(np.diff(means) < 0)
        )
        out[f"{field}_b_above_0"] = bool(block["fits"][field]["b_ci95"][0] > 0)
    out["approaches_condensation"] = all(out.values())
    return out


def _sweep_rows(res) -> list:
    rows = []
    for block in res["per_N"]:
        n_pts = block["N"]
        cells = sorted(block["cells"], key=lambda c: c["lam"])
        small = cells[0]
        v = condensation_limit(block)
        fit_m, fit_d = block["fits"]["off_mass"], block["fits"]["teacher_distance"]
        claim = "in all cases" if n_pts == 40 else "in almost all cases"
        conv = sum(c["converged"] for c in cells)
        total = sum(c["seeds"] for c in cells)
        off = ", ".join(f"λ={c['lam']:g}: {c['off_mass']['mean']:.2g}" for c in cells)
        rows.append(
            (
                f"Report: at N = {n_pts} the SGD + L2 student condenses {claim} (read as: "
                "the converged student approaches condensation as λ → 0)",
                claim,
                f"mass off the teacher directions {off}; ~ λ^{fit_m['b']:.2f} "
                f"[{fit_m['b_ci95'][0]:.2f}, {fit_m['b_ci95'][1]:.2f}]; RMS distance to the "
                f"teacher ~ λ^{fit_d['b']:.2f} [{fit_d['b_ci95'][0]:.2f}, "
                f"{fit_d['b_ci95'][1]:.2f}] ({small['teacher_distance']['mean']:.1e} at "
                f"λ={small['lam']:g}); converged {conv}/{total} runs",
                f"{small['seeds']} seeds × {len(cells)} λ, to stationarity",
                "reproduced" if v["approaches_condensation"] else "not reproduced",
                "condensation_sweep/lambda_sweep.png",
            )
        )
        k, t = small["condensed"], small["converged"]
        rows.append(
            (
                f"Report: at N = {n_pts} every neuron of the converged student lies on a "
                f"teacher direction (strict, at the smallest λ = {small['lam']:g})",
                claim,
                (_fmt_p(k, t) if t else "no converged run")
                + f"; largest angle of a neuron with > 0.1% of the mass "
                f"{small['max_angle']['mean']:.3f} rad (mean)",
                f"{t} converged seeds",
                "reproduced" if t and k >= 0.9 * t else "not reproduced",
                "condensation_sweep/fig4_converged.png",
            )
        )
    return rows


def claims_report(r):
    rows = []
    if r.get("condensation_sweep") is not None:
        rows += _sweep_rows(r["condensation_sweep"])
    res = r.get("condensation")
    if res is not None:
        for entry in res["per_N"]:
            n_pts, s = entry["N"], entry["summary"]
            seeds, sgd, ex = s["seeds"], s["sgd"], s["exact"]
            if n_pts == 40:
                rows.append(
                    (
                        "Report, eq. 12 at N = 40 (m₀ = 3, six sectors)",
                        "≥ 0.83",
                        f"bound {entry['eq12_bound']:.4f}; exact probability of ≥ 3 "
                        f"points per sector {entry['p_hypothesis_exact']:.4f}",
                        "exact",
                        "reproduced"
                        if abs(entry["eq12_bound"] - 0.83) < 0.01
                        else "not reproduced",
                        "condensation/norms.png",
                    )
                )
                rows.append(
                    (
                        "Report: SGD + L2 reaches ‖θ‖² ≈ 5.99 (minimum 6 = 2m₀)",
                        "5.99",
                        f"mean {sgd['sq_norm_mean']:.3f} (range "
                        f"{sgd['sq_norm_min']:.3f}–{sgd['sq_norm_max']:.3f})",
                        f"{seeds} seeds",
                        "reproduced"
                        if abs(sgd["sq_norm_mean"] - 5.99) < 0.02
                        else "not reproduced",
                        "condensation/norms.png",
                    )
                )
            claim = "in all cases" if n_pts == 40 else "in almost all cases"
            angle = res["config"]["angle_tol"]
            rows.append(
                (
                    f"Report's protocol as run (40,000 SGD steps, not stationary):"
                    f" at N = {n_pts} the student condenses {claim}",
                    claim,
                    f"condensed (all mass within {angle} rad of teacher directions): "
                    f"{_fmt_p(sgd['condensed'], seeds)}; mass near teacher directions "
                    f"{sgd['aligned_mass_fraction_mean']:.0%}",
                    f"{seeds} seeds",
                    "not reproduced"
                    if sgd["condensed"] < 0.9 * seeds
                    else "reproduced",
                    "condensation/fig4_neurons.png",
                )
            )
            if ex.get("solved"):
                rows.append(
                    (
                        f"Exact minimum-norm interpolant at N = {n_pts} (cvxpy + "
                        "Clarabel)",
                        "condensed (Thm 5.2 under its hypothesis)",
                        f"condensed {_fmt_p(ex['condensed'], ex['solved'])}, ‖θ̂‖² "
                        f"{ex['sq_norm_min']:.5f}–{ex['sq_norm_max']:.5f}; failed "
                        f"{ex['failed']}",
                        f"{seeds} seeds",
                        "beyond the documents",
                        "condensation/fig4_neurons.png",
                    )
                )
    checked = confirmed = 0
    for name in ("condensation", "phase"):
        res = r.get(name)
        if res is None:
            continue
        items = (
            [e["summary"]["exact"] for e in res["per_N"]]
            if name == "condensation"
            else res["cells"]
        )
        for e in items:
            checked += e.get("theorem52_checked", e.get("hypothesis_held", 0)) or 0
            confirmed += e.get("theorem52_confirmed", 0) or 0
    if checked:
        rows.append(
            (
                "Report, Theorem 5.2: ≥ 3 points per sector ⇒ the minimum-norm "
                "interpolant is condensed (equals the teacher)",
                "always",
                f"confirmed on {confirmed}/{checked} instances meeting the hypothesis",
                f"{checked} instances",
                "reproduced" if confirmed == checked else "not reproduced",
                "phase/phase.png",
            )
        )
    res = r.get("phase")
    if res is not None:
        parts = []
        for teacher in sorted({c["teacher"] for c in res["cells"]}):
            sub = sorted(
                (c for c in res["cells"] if c["teacher"] == teacher),
                key=lambda c: c["N"],
            )
            reach = next((c["N"] for c in sub if c["p_recovered"] >= 0.95), None)
            parts.append(
                f"{teacher}: P(recovery) ≥ 0.95 from N = {reach}"
                if reach
                else f"{teacher}: max P(recovery) {max(c['p_recovered'] for c in sub):.2f}"
            )
        rows.append(
            (
                "Recovery of the teacher by the exact interpolant vs N (phase diagram)",
                "—",
                "; ".join(parts),
                f"{res['cells'][0]['instances']} instances/N",
                "beyond the documents",
                "phase/phase.png",
            )
        )
    res = r.get("phase_d3")
    if res is not None:
        best = max(res["cells"], key=lambda c: c["p_recovered"])
        rows.append(
            (
                "Report's conjecture: condensation in d > 2 (here d = 3)",
                "conjectured",
                f"max P(recovery) {best['p_recovered']:.2f} at N = {best['N']}",
                f"{best['instances']} instances/N",
                "beyond the documents",
                "phase_d3/phase.png",
            )
        )
    return rows


def threshold_law_verdict(fits: dict) -> dict:
    """Does the minimal full-rank width grow linearly in n, panel by panel? ``fits``:
    the ``threshold`` experiment's per-panel fits. Linear iff the AIC-best model is c·n
    or the affine c0 + c1·n (with c1 > 0), or c·n^a with 1 inside a's bootstrap 95%
    interval; otherwise the law is c·n^a with that exponent (or c·n·log n if that model
    wins). Fits without the affine model (older results) are judged on the others."""
    out = {}
    for panel, fit in fits.items():
        power = fit["models"]["c*n^a"]
        lo, hi = power.get("a_ci95", [power["a"], power["a"]])
        affine = fit["best"] == "c0+c1*n" and fit["models"]["c0+c1*n"]["c1"] > 0
        linear = (
            fit["best"] == "c*n" or affine or (fit["best"] == "c*n^a" and lo <= 1 <= hi)
        )
        out[panel] = {
            "linear": linear,
            "best": fit["best"],
            "a": power["a"],
            "a_ci95": [lo, hi],
        }
    return out


def claims_threshold(r):
    """The threshold law from exact w* (beyond the documents), and Figure 4's "linear
    in n" re-judged with it."""
    fits, parts, where = {}, [], []
    for name in ("threshold_law", "threshold_d0"):
        res = r.get(name)
        if res is None:
            continue
        fits.update(res["fits"])
        cells = res["cells"]
        ns = sorted({c["n"] for c in cells})
        where.append(
            f"{name}: n = {ns[0]}..{ns[-1]}, {cells[0]['trials']} trials/n, "
            f"censored {sum(c['censored'] for c in cells)}"
        )
    if not fits:
        return [
            ("Full-rank threshold law (exact w*)", "—", "not run", "", "not tested", "")
        ]
    verdict = threshold_law_verdict(fits)
    for panel, v in verdict.items():
        m = fits[panel]["models"]
        parts.append(
            f"{panel}: median w* ~ n^{v['a']:.2f} [{v['a_ci95'][0]:.2f}, "
            f"{v['a_ci95'][1]:.2f}], AIC best {v['best']} (AIC c·n "
            f"{m['c*n']['aic']:.0f}, c·n·log n {m['c*n*log(n)']['aic']:.0f}, "
            f"c·n^a {m['c*n^a']['aic']:.0f}"
            + (
                f", c0 + c1·n {m['c0+c1*n']['aic']:.0f}: c0 = "
                f"{m['c0+c1*n']['c0']:.1f}, c1 = {m['c0+c1*n']['c1']:.3f}"
                if "c0+c1*n" in m
                else ""
            )
            + ")"
        )
    scale = "; ".join(where)
    rows = [
        (
            "Minimal full-rank width w* (paper convention, exact rank): its law in n",
            "—",
            "; ".join(parts),
            scale,
            "beyond the documents",
            "threshold_law/threshold_law.png",
        )
    ]
    linear = [f"{p} ({v['best']})" for p, v in verdict.items() if v["linear"]]
    not_linear = [
        f"{p} (n^{v['a']:.2f})" for p, v in verdict.items() if not v["linear"]
    ]
    rows.append(
        (
            "Slides, Fig. 4 (left) re-judged with exact w* to n = "
            f"{max(max(f['n']) for f in fits.values()):.0f}",
            "the smallest width with full rank grows linearly in n",
            ("linear: " + ", ".join(linear) if linear else "linear in no panel")
            + ("; not linear: " + ", ".join(not_linear) if not_linear else ""),
            scale,
            "reproduced" if not not_linear else "not reproduced",
            "threshold_law/threshold_law.png",
        )
    )
    res = r.get("threshold_fig4")
    if res is not None and res.get("float_check"):
        fc = res["float_check"]
        rows.append(
            (
                "Figure 4 from w* (every width from one draw) against the float SVD "
                "rule, trial by trial",
                "—",
                f"{fc['disagree']} disagreements in {fc['decisions']} decisions "
                f"({fc['borderline']} borderline), {fc['cells']} cells",
                f"{res['cells'][0]['trials']} trials/cell; float check on "
                f"{fc['trials_per_cell']}/cell",
                "beyond the documents" if fc["disagree"] == 0 else "not reproduced",
                "threshold_fig4/fig4_from_w_star.png",
            )
        )
    return rows


def _deep_rows(res, name="deep_rank"):
    """Depth-L Figure 4: the largest n each (depth, panel) reaches p >= 1/2 on the grid,
    its total width and P/n; the two-layer case against the Figure-4 engine."""
    parts = []
    by = {}
    for t in res["thresholds"]:
        by.setdefault((t["depth"], t["panel"]), []).append(t)
    for (depth, panel), rows in sorted(by.items()):
        hit = [t for t in rows if t["width"] is not None]
        if not hit:
            parts.append(f"L={depth} {panel}: p >= 1/2 nowhere on the grid")
            continue
        top = max(hit, key=lambda t: t["n"])
        parts.append(
            f"L={depth} {panel}: to n = {top['n']}, at n = {top['n']} "
            f"{top['total_width']} hidden units, P/n = "
            f"{top['params_per_point']:.1f}"
        )
    trials = res["cells"][0]["trials"]
    rows = [
        (
            "Beyond: full-rank Jacobian at depth L = 2, 3, 4 (smallest grid width with "
            "p >= 1/2)",
            "— (slides: further topic 'deep networks')",
            "; ".join(parts),
            f"{trials} trials/cell",
            "beyond the documents",
            f"{name}/deep_rank_thresholds.png",
        )
    ]
    chk = res.get("fig4_check")
    if chk:
        dis = sum(v["disagree"] for v in chk.values())
        dec = sum(v["decisions"] for v in chk.values())
        rows.append(
            (
                "Beyond: depth-2 flax MLP by vmap(jacrev) against the Figure-4 "
                "engine, trial by trial",
                "—",
                f"{dis} disagreements in {dec} decisions",
                f"{trials} trials/cell",
                "beyond the documents" if dis == 0 else "not reproduced",
                f"{name}/deep_rank_L2.png",
            )
        )
    return rows


def _gd_rows(res, name="gradient_descent"):
    cells = res["cells"]
    parts, bound = [], sum(c["gradient_bound_violations"] for c in cells)
    for panel in dict.fromkeys(f"L={c['depth']} {c['panel']}" for c in cells):
        sub = [c for c in cells if f"L={c['depth']} {c['panel']}" == panel]
        o = {k: sum(c["outcomes"][k] for c in sub) for k in sub[0]["outcomes"]}
        t = sum(c["trials"] for c in sub)
        parts.append(
            f"{panel}: reached {_fmt_p(o['reached'], t)}, rank-deficient "
            f"critical {o['critical_deficient']}, full-rank critical "
            f"(borderline, s_n/s_1 <= grad_tol) {o['critical_full']}, still "
            f"descending at the budget {o['budget']}, diverged {o['diverged']}"
        )
    cfg = res["config"]
    scale = (
        f"{cells[0]['trials']} initializations/cell, {cfg['steps']} steps, "
        f"loss_tol {cfg['loss_tol']:g}, grad_tol {cfg['grad_tol']:g}"
    )
    return [
        (
            "Beyond: gradient descent from random initializations (where it ends)",
            "— (slides: further topic 'gradient descent')",
            "; ".join(parts),
            scale,
            "beyond the documents",
            f"{name}/gd_boundaries.png",
        ),
        lemma1_row(cells, scale, f"{name}/gd_losses.png"),
        (
            "Consistency check (true of every matrix, not a test of Lemma 1): at a "
            "full-rank end point ||J^T r|| >= s_n(J) ||r||, with the autodiff gradient",
            "—",
            f"{bound} end points violate it (of {sum(c['trials'] for c in cells)})",
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


def _init_rows(res, name="init_regions"):
    cells = res["cells"]
    parts = []
    for panel in dict.fromkeys(c["panel"] for c in cells):
        sub = [c for c in cells if c["panel"] == panel]
        g = [c for c in sub if c["gauss"]["p"] < c["uniform"]["p"]]
        big = max(sub, key=lambda c: (c["n"], c["d1"]))
        parts.append(
            f"{panel}: Gaussian-init region below the uniform-region fraction "
            f"in {len(g)}/{len(sub)} cells; at n = {big['n']}, d1 = {big['d1']}: "
            f"{_fmt_p(big['gauss']['yes'], big['gauss']['yes'] + big['gauss']['no'])}"
            f" vs {_fmt_p(big['uniform']['yes'], big['uniform']['yes'] + big['uniform']['no'])}"
            f"; a Gaussian unit's mean cone measure is "
            f"{np.mean([c['gauss_over_uniform_cone_measure'] for c in sub]):.1f}x "
            "a uniform one's"
        )
    mc = (
        f"cone tables vs Monte Carlo: {sum(c['mc_outside_999'] for c in cells)} of "
        f"{sum(c['mc_cones_checked'] for c in cells)} cones outside 99.9% exact "
        "(Clopper-Pearson) intervals"
    )
    return [
        (
            "Beyond: P(the region of a Gaussian initialization holds a global min) vs "
            "Figure 5's uniform regions",
            "— (slides: volume of normal cones and initialization)",
            "; ".join(parts) + "; " + mc,
            f"{cells[0]['trials']} trials/cell",
            "beyond the documents",
            f"{name}/init_regions.png",
        )
    ]


def claims_further(r):
    """The slides' further topics (beyond the documents): depth, GD, initialization."""
    rows = []
    # (entry, rows, required): the full-scale-only variants add rows where they ran
    for name, fn, required in (
        ("deep_rank", _deep_rows, True),
        ("deep_rank_ratio", _deep_rows, False),
        ("gradient_descent", _gd_rows, True),
        ("gradient_descent_L3", _gd_rows, False),
        ("init_regions", _init_rows, True),
    ):
        res = r.get(name)
        if res is not None:
            rows += fn(res, name)
        elif required:
            rows.append((f"Beyond: {name}", "—", "not run", "", "not tested", ""))
    return rows


ALL = (
    claims_fig4,
    claims_exact,
    claims_peer,
    claims_regions,
    claims_report,
    claims_threshold,
    claims_further,
)
