"""Reproduce both documents: every experiment, its figures, and a claim-by-claim report.

Runs every experiment script (each in its own process) at ``--quick`` scale (about
4 minutes on a 2-core CPU; OUT defaults to figures/quick/) or ``--full`` scale (the
documents' trial counts and more; OUT defaults to figures/), writes their results and
figures under ``OUT/<experiment>/``, then ``OUT/REPORT.md``:
one row per claim of the slides (Karhadkar, Murray, Tseran, Montúfar) and the report
(Song & Lee), with the documents' statement, the measured value with its uncertainty
and trial count, the scale, a verdict (reproduced / not reproduced / beyond the
documents / not tested at this scale) and the figure.

Finished experiments are reused: ``OUT/<experiment>/cache.json`` holds the
fingerprint of the experiment's full command line (scale included) and the SHA-256 of
its results; a changed command line, a missing record or a file that no longer
matches its hash (truncated, corrupted) reruns the experiment, which itself resumes
from its checkpoints. ``--force`` reruns everything.

Example:
  python scripts/reproduce.py --quick
"""

from __future__ import annotations

import _runtime  # noqa: E402  (scripts/ is on sys.path when a script runs)

_runtime.configure()

import argparse  # noqa: E402
import math
import subprocess
import sys
import time
from pathlib import Path

DESCRIPTION = __doc__.split("\n\n")[0]
SCRIPTS = Path(__file__).resolve().parent

# name -> (script, arguments at both scales, arguments per scale)
EXPERIMENTS = {
    "fig4": ("full_rank.py",
             ["--convention", "paper", "--d0", "1", "2", "3", "5",
              "--ratio", "0.25", "0.5", "1", "2"],
             {"quick": ["--trials", "50"], "full": ["--trials", "1000"]}),
    "fig4_peer": ("full_rank.py",
                  ["--convention", "peer", "--d0", "1", "2", "5", "--n", "20", "60", "90",
                   "--d1", "30", "150", "300"],
                  {"quick": ["--trials", "1000"], "full": ["--trials", "10000"]}),
    "fig4_exact": ("full_rank.py",
                   ["--convention", "paper", "--d0", "1", "2", "3", "5",
                    "--ratio", "0.25", "0.5", "1", "2"],
                   {"quick": ["--trials", "6", "--exact-check", "6"],
                    "full": ["--trials", "30", "--exact-check", "30"]}),
    "fig5": ("global_minima.py", ["--d0", "1"],
             {"quick": ["--regions", "20", "--check-reference", "20"],
              "full": ["--regions", "100", "--check-reference", "100"]}),
    "fig6": ("global_minima.py", ["--d0", "2", "5"],
             {"quick": ["--regions", "20", "--check-reference", "20"],
              "full": ["--regions", "100", "--check-reference", "100"]}),
    "thm2": ("region_rank.py", ["--theorem", "2"],
             {"quick": ["--trials", "40"], "full": ["--trials", "200"]}),
    "thm9": ("region_rank.py", ["--theorem", "9"],
             {"quick": ["--trials", "40"], "full": ["--trials", "200"]}),
    "thm3": ("binary_singularity.py", [],
             {"quick": ["--trials", "4000"], "full": ["--trials", "100000"]}),
    "fig1_fig3": ("region_figures.py", [], {"quick": [], "full": []}),
    "condensation": ("condensation.py", [],
                     {"quick": ["--seeds", "20"], "full": ["--seeds", "100"]}),
    "phase": ("minnorm_phase.py", [],
              {"quick": ["--instances", "30"], "full": ["--instances", "200"]}),
    "phase_d3": ("minnorm_phase.py",
                 ["--teachers", "random", "--d", "3", "--N", "6", "9", "12", "15", "18",
                  "21", "24", "27", "30", "33", "36"],
                 {"full": ["--instances", "60"]}),
}
QUIET = {"full_rank.py", "global_minima.py", "binary_singularity.py", "minnorm_phase.py"}


def parse_args(argv):
    p = argparse.ArgumentParser(description=DESCRIPTION)
    scale = p.add_mutually_exclusive_group()
    scale.add_argument("--quick", dest="scale", action="store_const", const="quick")
    scale.add_argument("--full", dest="scale", action="store_const", const="full")
    p.add_argument("--out", default=None,
                   help="default: figures/ for --full, figures/quick/ for --quick")
    p.add_argument("--only", nargs="+", default=None, choices=sorted(EXPERIMENTS),
                   help="run only these experiments (the report covers what exists)")
    p.add_argument("--force", action="store_true", help="ignore cached results")
    a = p.parse_args(argv)
    a.scale = a.scale or "quick"
    a.out = a.out or ("figures" if a.scale == "full" else "figures/quick")
    return a


def command(name: str, scale: str, out: Path) -> list[str] | None:
    script, common, per_scale = EXPERIMENTS[name]
    if scale not in per_scale:
        return None
    args = [*common, *per_scale[scale], "--out", str(out / name)]
    if script in QUIET:
        args.append("--no-progress")
    return [script, *args]


def run_experiments(a, out: Path, io) -> dict:
    status = {}
    for name in a.only or EXPERIMENTS:
        cmd = command(name, a.scale, out)
        if cmd is None:
            status[name] = "not run at this scale"
            continue
        cache = io.ResultsCache(out / name, {"command": cmd, "scale": a.scale})
        if not a.force and cache.valid():
            status[name] = "cached"
            print(f"[reproduce] {name}: reusing finished results", flush=True)
            continue
        print(f"[reproduce] {name}: {' '.join(cmd)}", flush=True)
        cache.invalidate()
        t0 = time.perf_counter()
        rc = subprocess.run([sys.executable, str(SCRIPTS / cmd[0]), *cmd[1:]]).returncode
        dt = time.perf_counter() - t0
        if rc != 0:
            status[name] = f"FAILED (exit {rc})"
            print(f"[reproduce] {name}: FAILED with exit status {rc}", flush=True)
            continue
        cache.commit()
        status[name] = f"ran in {dt:.0f} s"
    return status


# ---------------------------------------------------------------------------
# Claims. Each takes the loaded results (name -> dict or None) and returns rows.


def _fmt_p(k: int, t: int) -> str:
    from jaxnet import stats

    lo, hi = stats.wilson_interval(k, t)
    return f"{k}/{t} = {k / t:.3f} [{lo:.3f}, {hi:.3f}]"


def _thresholds(cells, panel):
    """n -> smallest d1 with p ≥ 1/2 (None if none) in one panel."""
    by_n = {}
    for c in cells:
        if c["panel"] == panel:
            by_n.setdefault(c["n"], []).append((c["d1"], c["p"]))
    return {n: next((d1 for d1, p in sorted(v) if p >= 0.5), None)
            for n, v in sorted(by_n.items())}


def _slope(points):
    import numpy as np

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
    resolved = {p: _slope(pts) for p, (pts, _) in fixed.items()
                if len(pts) >= 2 and max(d for _, d in pts) > grid_min}
    unresolved = [p for p in fixed if p not in resolved]
    ok_fixed = bool(resolved) and all(s > 0 for s in resolved.values())
    measured = "; ".join(f"{p}: +{s:.2f} width per data point" for p, s in resolved.items())
    if unresolved:
        measured += f" ({', '.join(unresolved)}: full rank already at the grid's smallest " \
                    f"width d1 = {grid_min} for every n)"
    no_threshold = [f"{p} n ≥ {min(n for n, d in th.items() if d is None)}"
                    for p, (_, th) in fixed.items() if None in th.values()]
    if no_threshold:
        measured += "; no width of the grid reaches p ≥ 1/2 for " + ", ".join(no_threshold)
    rows = [("Slides, Fig. 4 (left): d0 fixed, the smallest width with full rank grows "
             "linearly in n",
             "smallest d1 with P(full rank) ≥ 1/2 grows linearly in n",
             measured, f"{trials} trials/cell", "reproduced" if ok_fixed else
             "not reproduced", "fig4/full_rank_d0.png")]
    ratio_slopes = {p: _slope(pts) for p, (pts, _) in ratio.items()}
    limit = 0.1 * min(resolved.values()) if resolved else float("nan")
    ok_ratio = all(abs(s) <= limit for s in ratio_slopes.values())
    rows.append((
        "Slides, Fig. 4 (right): d0 = ⌈ratio·n⌉, the width needed stays roughly constant",
        "threshold width roughly constant in n",
        "; ".join(f"{p}: d1* from {min(d for _, d in pts)} to {max(d for _, d in pts)} "
                  f"(slope {s:+.3f}/point)" for (p, (pts, _)), s in
                  zip(ratio.items(), ratio_slopes.values(), strict=True))
        + f"; criterion: |slope| ≤ 0.1 × smallest fixed-d0 slope = {limit:.3f}",
        f"{trials} trials/cell", "reproduced" if ok_ratio else "not reproduced",
        "fig4/full_rank_ratio.png"))
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
    return [(
        "Every float rank decision of Fig. 4 cross-checked against the exact generic rank "
        "(integer data, the trial's activation pattern, Khatri–Rao Gram rank modulo two "
        "primes ≈ 2³¹; Lemma 4)",
        "—",
        f"{checked} trials: float full but exactly deficient {wrong}; float deficient but "
        f"exactly full {sum(e['float_deficient_exact_full'] for _, e in border)} "
        f"(numerically borderline: s_n ≤ rtol·s_1 although J is nonsingular) in "
        f"{len(border)} cells{': ' + where if where else ''}",
        f"{res['cells'][0]['exact']['checked']} trials/cell", "beyond the documents"
        if wrong == 0 else "not reproduced", "fig4_exact/full_rank_d0.png")]


REFERENCE_PEER = {  # REFERENCE_CODE.md: the reference code's float32-rule values
    (1, 20, 300): 0.15, (2, 60, 150): 0.63, (5, 90, 30): 0.42,
}


def claims_peer(r):
    res = r.get("fig4_peer")
    if res is None:
        return []
    rows = []
    for (d0, n, d1), ref in REFERENCE_PEER.items():
        cell = next(c for c in res["cells"] if (c["d0"], c["n"], c["d1"]) == (d0, n, d1))
        k, t = cell["full_rank"], cell["trials"]
        # Two-sample test at 99.9%: the reference's own 100 trials are noisy too.
        p = k / t
        sd = math.sqrt(max(p * (1 - p), 1e-4) * (1 / 100 + 1 / t))
        rows.append((
            f"Reference code (PyTorch), peer convention, d0={d0}, n={n}, d1={d1}",
            f"{ref:.2f} (100 trials, float32 rule)",
            f"{_fmt_p(k, t)}; {cell['near_threshold']} trials within a factor 2 of "
            f"the float32 threshold",
            f"{t} trials", "reproduced" if abs(ref - p) <= 3.29 * sd else
            "not reproduced", "fig4_peer/full_rank_d0.png"))
    return rows


def _global_minima_rows(res, label, fig):
    import numpy as np

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
        rows.append((
            f"Slides, {label}, {panel}: the fraction of activation regions holding a "
            "global minimum rises with the width",
            "rises towards 1 with d1 (Thm 11: for d1 ≳ n log n)",
            f"at the widest d1 = {widest}: {_fmt_p(k, t)}; p(widest d1) ≥ p(narrowest) "
            f"for {rising:.0%} of n; solver failures {failed}; reference agreement "
            f"{res['reference_check']['agree']}/{res['reference_check']['checked']}",
            f"{sub[0]['regions']} regions/cell",
            "reproduced" if rising >= 0.75 and k / max(t, 1) >= 0.9 else
            "not reproduced", fig))
    return rows


def claims_regions(r):
    rows = []
    if r.get("fig5"):
        rows += _global_minima_rows(r["fig5"], "Fig. 5", "fig5/global_minima.png")
    if r.get("fig6"):
        rows += _global_minima_rows(r["fig6"], "Fig. 6", "fig6/global_minima.png")
    from jaxnet import theory

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
            rows.append((f"Slides, Theorem {thm}", f"P(full rank) ≥ 1 − ε = {1 - eps}"
                         " for d1 ≥ the theorem's width", "no cell of the grid reaches "
                         "the width", f"{trials}/cell", "not tested at this scale",
                         f"{name}/region_rank_{name}.png"))
            continue
        k = sum(c["full_rank"] for c in covered)
        t = sum(c["trials"] for c in covered)
        worst = min(covered, key=lambda c: c["p"])
        from jaxnet import stats

        hi = stats.wilson_interval(worst["full_rank"], worst["trials"])[1]
        rows.append((
            f"Slides, Theorem {thm}: regions have a full-rank Jacobian w.p. ≥ 1 − ε "
            f"once d1 exceeds the theorem's width (ε = {eps}; exact generic rank)",
            f"≥ {1 - eps} for d1 ≥ width(n)",
            f"{len(covered)} cells at or past the width: {_fmt_p(k, t)}; worst cell "
            f"(n={worst['n']}, d1={worst['d1']}) {worst['p']:.2f}",
            f"{trials} regions/cell", "reproduced" if hi >= 1 - eps else "not reproduced",
            f"{name}/region_rank_{name}.png"))
    res = r.get("thm3")
    if res is not None:
        from jaxnet import stats

        exact = [c for c in res["cells"] if "exact" in c]
        # A self-check of the sampler, not of the theorem: each exact value against its
        # estimate, as a z-score, flagged outside the Bonferroni-simultaneous 95% level.
        z_crit = float(stats.normal_quantile(1 - 0.025 / max(1, len(exact))))
        zs = [(c["n"], (c["p"] - c["exact"])
               / math.sqrt(c["exact"] * (1 - c["exact"]) / c["trials"])) for c in exact]
        flagged = [f"n={n}: z = {z:+.1f}" for n, z in zs if abs(z) > z_crit]
        check = (f"all within |z| ≤ {z_crit:.2f}" if not flagged else
                 "⚠ outside |z| ≤ " + f"{z_crit:.2f}: " + ", ".join(flagged))
        # The decay rate: least squares of log p_n on n where ≥ 10 draws were singular.
        import numpy as np

        fit = [(c["n"], math.log(c["p"])) for c in res["cells"]
               if c["n"] >= 5 and c["singular"] >= 10]
        base = math.exp(_slope(fit)) if len(fit) >= 2 else float("nan")
        rows.append((
            "Slides, Theorem 3: P(random n×n 0/1 matrix singular) = (1/√2 + o(1))ⁿ",
            "decays at least like (1/√2)ⁿ ≈ 0.707ⁿ (Theorem 2 uses C₁·0.72ⁿ)",
            f"fitted decay pⁿ ∝ {base:.3f}ⁿ over n = {fit[0][0] if fit else '-'}.."
            f"{fit[-1][0] if fit else '-'} (criterion: ≤ 0.72); C₁ = {res['c1']:.3f} "
            "(max p_n/0.72ⁿ)"
            + (". Sampler check against exact enumeration, n ≤ "
               f"{max(c['n'] for c in exact)} ("
               + ", ".join(c["exact_fraction"] for c in exact) + f"): {check}"
               if exact else ""),
            f"{res['cells'][0]['trials']} matrices/n",
            # The o(1) cannot be seen at finite n: the criterion is the base 0.72 that
            # Theorem 2 relies on.
            "reproduced" if np.isfinite(base) and base <= 0.72 else "not reproduced",
            "thm3/binary_singularity.png"))
    if r.get("fig1_fig3"):
        rows.append(("Slides, Figures 1 and 3 (activation fan; function space)",
                     "figures", "recomputed from regions and zonotope vertices", "—",
                     "reproduced (figure)", "fig1_fig3/fig1_region_fan.png"))
    return rows


def claims_report(r):
    rows = []
    res = r.get("condensation")
    if res is not None:
        for entry in res["per_N"]:
            n_pts, s = entry["N"], entry["summary"]
            seeds, sgd, ex = s["seeds"], s["sgd"], s["exact"]
            if n_pts == 40:
                rows.append(("Report, eq. 12 at N = 40 (m₀ = 3, six sectors)", "≥ 0.83",
                             f"bound {entry['eq12_bound']:.4f}; exact probability of ≥ 3 "
                             f"points per sector {entry['p_hypothesis_exact']:.4f}",
                             "exact", "reproduced" if abs(entry["eq12_bound"] - 0.83) < 0.01
                             else "not reproduced", "condensation/norms.png"))
                rows.append(("Report: SGD + L2 reaches ‖θ‖² ≈ 5.99 (minimum 6 = 2m₀)",
                             "5.99", f"mean {sgd['sq_norm_mean']:.3f} (range "
                             f"{sgd['sq_norm_min']:.3f}–{sgd['sq_norm_max']:.3f})",
                             f"{seeds} seeds", "reproduced"
                             if abs(sgd["sq_norm_mean"] - 5.99) < 0.02 else "not reproduced",
                             "condensation/norms.png"))
            claim = "in all cases" if n_pts == 40 else "in almost all cases"
            angle = res["config"]["angle_tol"]
            rows.append((f"Report: at N = {n_pts} the SGD-trained student condenses "
                         f"{claim}", claim,
                         f"condensed (all mass within {angle} rad of teacher directions): "
                         f"{_fmt_p(sgd['condensed'], seeds)}; mass near teacher directions "
                         f"{sgd['aligned_mass_fraction_mean']:.0%}", f"{seeds} seeds",
                         "not reproduced" if sgd["condensed"] < 0.9 * seeds else "reproduced",
                         "condensation/fig4_neurons.png"))
            if ex.get("solved"):
                rows.append((f"Exact minimum-norm interpolant at N = {n_pts} (cvxpy + "
                             "Clarabel)", "condensed (Thm 5.2 under its hypothesis)",
                             f"condensed {_fmt_p(ex['condensed'], ex['solved'])}, ‖θ̂‖² "
                             f"{ex['sq_norm_min']:.5f}–{ex['sq_norm_max']:.5f}; failed "
                             f"{ex['failed']}", f"{seeds} seeds", "beyond the documents",
                             "condensation/fig4_neurons.png"))
    checked = confirmed = 0
    for name in ("condensation", "phase"):
        res = r.get(name)
        if res is None:
            continue
        items = [e["summary"]["exact"] for e in res["per_N"]] if name == "condensation" \
            else res["cells"]
        for e in items:
            checked += e.get("theorem52_checked", e.get("hypothesis_held", 0)) or 0
            confirmed += e.get("theorem52_confirmed", 0) or 0
    if checked:
        rows.append(("Report, Theorem 5.2: ≥ 3 points per sector ⇒ the minimum-norm "
                     "interpolant is condensed (equals the teacher)", "always",
                     f"confirmed on {confirmed}/{checked} instances meeting the hypothesis",
                     f"{checked} instances", "reproduced" if confirmed == checked else
                     "not reproduced", "phase/phase.png"))
    res = r.get("phase")
    if res is not None:
        parts = []
        for teacher in sorted({c["teacher"] for c in res["cells"]}):
            sub = sorted((c for c in res["cells"] if c["teacher"] == teacher),
                         key=lambda c: c["N"])
            reach = next((c["N"] for c in sub if c["p_recovered"] >= 0.95), None)
            parts.append(f"{teacher}: P(recovery) ≥ 0.95 from N = {reach}" if reach else
                         f"{teacher}: max P(recovery) {max(c['p_recovered'] for c in sub):.2f}")
        rows.append(("Recovery of the teacher by the exact interpolant vs N (phase "
                     "diagram)", "—", "; ".join(parts),
                     f"{res['cells'][0]['instances']} instances/N", "beyond the documents",
                     "phase/phase.png"))
    res = r.get("phase_d3")
    if res is not None:
        best = max(res["cells"], key=lambda c: c["p_recovered"])
        rows.append(("Report's conjecture: condensation in d > 2 (here d = 3)",
                     "conjectured", f"max P(recovery) {best['p_recovered']:.2f} at "
                     f"N = {best['N']}", f"{best['instances']} instances/N",
                     "beyond the documents", "phase_d3/phase.png"))
    return rows


def write_report(out: Path, scale: str, status: dict, io) -> Path:
    loaded = {}
    for name in EXPERIMENTS:
        cache = io.ResultsCache(out / name, {"command": command(name, scale, out),
                                             "scale": scale})
        loaded[name] = cache.load() if command(name, scale, out) and cache.valid() else None
    rows = claims_fig4(loaded) + claims_exact(loaded) + claims_peer(loaded) \
        + claims_regions(loaded) + claims_report(loaded)
    lines = [
        "# jaxnet: claims of the two documents, checked",
        "",
        f"Scale: `--{scale}`. Generated by `python scripts/reproduce.py --{scale}`; every "
        "number below is read from the `results.json` beside its figure (config, seed, "
        "versions and devices are recorded there). Intervals are 95% Wilson intervals "
        "unless stated.",
        "",
        "| claim | documents | jaxnet (measured) | trials | verdict | figure |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for claim, doc, measured, trials, verdict, fig in rows:
        link = f"[{Path(fig).name}]({fig})" if fig and (out / fig).exists() else fig
        cells = [claim, doc, measured, trials, f"**{verdict}**", link]
        lines.append("| " + " | ".join(str(c).replace("|", "/") for c in cells) + " |")
    lines += ["", "## Experiments", ""]
    lines += [f"- `{name}`: {status.get(name, 'not run')}" for name in EXPERIMENTS]
    path = out / "REPORT.md"
    io.write_text(path, "\n".join(lines) + "\n")
    return path


def main(argv=None) -> int:
    a = parse_args(argv)
    from jaxnet import io

    try:
        out = io.check_writable_dir(a.out)
    except ValueError as err:
        print(f"reproduce.py: error: {err}", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    status = run_experiments(a, out, io)
    path = write_report(out, a.scale, status, io)
    failed = [n for n, s in status.items() if s.startswith("FAILED")]
    print(f"[reproduce] wrote {path} in {time.perf_counter() - t0:.0f} s"
          + (f"; failed: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
