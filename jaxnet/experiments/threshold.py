"""The full-rank threshold: each trial's minimal full-rank width w*, exactly, and its law.

A cell is a panel (fixed d0, or d0 = ⌈ratio·n⌉) and a data-set size n; a trial is the
paper convention's draw of data and a network of ``cap`` units (the keys and draws of
``full_rank``'s trials: its trial t at width d1 is this trial cut to d1 units). w* is
computed exactly (``jaxnet.rank.min_width``: the combinatorial rank for d0 = 1, elimination
modulo a prime of the generic rank for d0 ≥ 2), so one draw gives P(full rank at d1) =
P(w* ≤ d1) for every d1 ≤ cap. Trials with w* > cap are *censored*: counted per cell,
and the statistics below stay valid under censoring (an empirical quantile q is
determined iff fewer than a fraction 1 − q of the trials are censored).

Per cell: the curve P(w* ≤ d1) for every integer d1 ≤ cap with Wilson bands; the 10%,
50% and 90% quantiles of w* with percentile-bootstrap 95% intervals; per panel: fits of
the median against c·n, c·n·log n and c·n^a (least squares on log w*; model selection
by AIC), with Theorems 2 and 9's sufficient widths for comparison. Optionally
(``check_float``) the float SVD rule of ``full_rank`` decides the first trials of every
cell at Figure 4's widths on the same keys, trial by trial.
"""

from __future__ import annotations

import dataclasses
import sys

import numpy as np

from jaxnet import runtime, stats
from jaxnet.rank import fig4, jacobian, min_width, theory
from jaxnet.rank.wstar import (  # noqa: F401  (the engine's names, re-exported)
    BLOCK_MOD_P,
    COMPILE_SECONDS,
    MOD_P_SECONDS,
    MODELS,
    QUANTILES,
    block_1d,
    cap_width,
    curve,
    fit_law,
    paper_units_1d,
    quantile_summary,
    run_w_star,
    trial_fn,
)
from jaxnet.runtime import config

SPEC = runtime.Spec(
    "threshold",
    "slides, Figure 4 as a threshold law: minimal full-rank widths w*, exact",
    arrays="w_star.npz",
    options=("out", "progress", "checkpoint_every", "stall_timeout"),
)
LAW_N = tuple(range(50, 1001, 50))
FIG4_WIDTHS = tuple(range(30, 301, 30))


@dataclasses.dataclass(frozen=True)
class Config:
    """Every (panel, n) cell, ``trials`` trials each, w* exact up to the cell's cap."""

    d0: tuple[int, ...] = config.field(
        (1,), help="fixed input dimensions", check=config.ints(allow_empty=True)
    )
    ratio: tuple[float, ...] = config.field(
        (),
        help="d0 = ceil(ratio*n) panels",
        check=config.reals(low=0, low_open=True, allow_empty=True),
    )
    n: tuple[int, ...] = config.field(LAW_N, help="data-set sizes", check=config.ints())
    trials: int = config.field(1000, help="trials per cell", check=config.count())
    cap_factor: float = config.field(
        40.0,
        help="width cap: ceil(cap_factor * n^1.5 / (d0 + 1)) units per trial",
        check=config.POSITIVE,
    )
    min_cap: int = config.field(
        300, help="... and at least this many", check=config.count()
    )
    widths: tuple[int, ...] = config.field(
        FIG4_WIDTHS,
        help="the widths of Figure 4's heatmaps and of the float cross-check",
        check=config.ints(),
    )
    check_float: int = config.field(
        0,
        help="decide the first K trials of every cell "
        "with n <= 100 also by the float SVD rule at "
        "--widths (same keys)",
        check=config.count(0),
    )
    bootstrap: int = config.field(
        1000, help="bootstrap resamples of the quantiles", check=config.count()
    )
    seed: int = config.seed()
    chunk: int = config.chunk(64, "trials per compiled call per device")

    def __post_init__(self):
        config.freeze(self)
        if not self.d0 and not self.ratio:
            raise ValueError("d0 must hold an input dimension when ratio is empty")

    def cells(self):
        """``(panel, n, d0, cap)`` per cell."""
        out = [(f"d0={d}", n, d) for d in self.d0 for n in self.n]
        out += [
            (f"ratio={r:g}", n, fig4.ratio_d0(r, n)) for r in self.ratio for n in self.n
        ]
        return [
            (p, n, d, cap_width(n, d, self.cap_factor, self.min_cap)) for p, n, d in out
        ]


def law(*, out=None, progress: bool = False, **config) -> runtime.Result:
    """The threshold law in one call. Keyword arguments are ``Config``'s fields.

    Example:
      >>> from jaxnet.experiments import threshold
      >>> res = threshold.law(d0=[1], n=[50, 100], trials=50, bootstrap=100)
      >>> sorted(res.plot())
      ['fig4_from_w_star.png', 'full_rank_curves.png', 'threshold_law.png']
    """
    return runtime.run(
        sys.modules[__name__],
        Config(**config),
        runtime.Options(out=out, progress=progress),
    )


def _float_check(cfg: Config, ctx: runtime.Context, cells, w_star) -> dict:
    """The float SVD rule (``full_rank``) on the first trials of the cells with n <=
    100, at ``cfg.widths``: disagreements with w* <= d1, trial by trial."""
    rows = [i for i, c in enumerate(cells) if c[1] <= 100]
    if not rows or not cfg.check_float:
        return {}
    k = min(cfg.check_float, cfg.trials)
    out = {
        "trials_per_cell": k,
        "cells": 0,
        "decisions": 0,
        "disagree": 0,
        "borderline": 0,
        "disagreements": [],
    }
    groups: dict[
        tuple, list[int]
    ] = {}  # one float sweep per (d0, widths), not per cell
    for i in rows:
        _, _, d0, cap = cells[i]
        groups.setdefault((d0, tuple(w for w in cfg.widths if w <= cap)), []).append(i)
    for (d0, widths), idx in groups.items():
        grid = fig4.make_grid(
            "paper",
            d0_values=(d0,),
            n_values=[cells[i][1] for i in idx],
            d1_values=widths,
            rank_dtype="float64",
        )
        res = fig4.run_grid(
            "paper", grid, k, ctx=ctx, chunk=cfg.chunk, rank_dtype="float64"
        )
        full_all = np.isin(res["code"], jacobian.FULL_CODES)
        ratio = res["s_ratio"] / grid.rtol[:, None]  # NaN where a certificate decided
        border_all = np.isfinite(ratio) & (
            np.abs(np.log(np.maximum(ratio, 1e-300))) < np.log(2.0)
        )  # s_n/s_1 within 2x of rtol
        for g, i in enumerate(idx):  # grid rows: n-major, then the widths
            panel, n = cells[i][0], cells[i][1]
            rows_g = slice(g * len(widths), (g + 1) * len(widths))
            full, border = full_all[rows_g], border_all[rows_g]
            exact = w_star[i, None, :k] <= np.asarray(widths)[:, None]
            bad = (full != exact) & ~border
            out["cells"] += 1
            out["decisions"] += int(full.size)
            out["borderline"] += int(border.sum())
            out["disagree"] += int(bad.sum())
            for j, t in zip(*np.nonzero(bad), strict=True):
                out["disagreements"].append(
                    {
                        "panel": panel,
                        "n": n,
                        "d1": widths[j],
                        "trial": int(t),
                        "float_full": bool(full[j, t]),
                    }
                )
    return out


def compute(cfg: Config, ctx: runtime.Context):
    cells = cfg.cells()
    w_star, ok, timings = run_w_star(ctx, cells, cfg.trials, chunk=cfg.chunk)
    rng = np.random.default_rng(cfg.seed)
    out_cells, boot_medians = [], []
    for i, (panel, n, d0, cap) in enumerate(cells):
        w = w_star[i]
        censored = int((w > cap).sum())
        d1s = [d for d in cfg.widths if d <= cap]
        full = [int((w <= d).sum()) for d in d1s]
        lo, hi = stats.wilson_interval(full, cfg.trials) if d1s else ([], [])
        out_cells.append(
            {
                "panel": panel,
                "n": n,
                "d0": d0,
                "cap": cap,
                "trials": cfg.trials,
                "censored": censored,
                "unverified_cuts": int((~ok[i]).sum()),
                **quantile_summary(w, cap, rng, cfg.bootstrap, boot_medians),
                "grid": [
                    {
                        "d1": d,
                        "full_rank": f,
                        "p": f / cfg.trials,
                        "p_ci95": [float(a), float(b)],
                    }
                    for d, f, a, b in zip(d1s, full, lo, hi, strict=True)
                ],
            }
        )
    panels = {}
    for panel in dict.fromkeys(c["panel"] for c in out_cells):
        idx = [
            i
            for i, c in enumerate(out_cells)
            if c["panel"] == panel and c["q50"]["value"] and c["n"] >= 3
        ]
        if len(idx) >= 3:
            panels[panel] = fit_law(
                [out_cells[i]["n"] for i in idx],
                [out_cells[i]["q50"]["value"] for i in idx],
                np.stack([boot_medians[i] for i in idx], axis=1),
            )
    body = {
        "rank": "exact: combinatorial for d0 = 1, Gauss-Jordan mod p = "
        f"{min_width.PRIME} of the generic rank (integer data) for d0 >= 2",
        "cells": out_cells,
        "fits": panels,
        "float_check": _float_check(cfg, ctx, cells, w_star),
        "metadata": {"programs": timings},
    }
    return body, {"w_star": w_star, "cap": np.array([c[3] for c in cells], np.int32)}


def plot(results: dict, arrays: dict) -> dict:
    import matplotlib.pyplot as plt

    from jaxnet import plotting

    cells = results["cells"]
    figs = {}
    grid_cells = [
        {"panel": c["panel"], "n": c["n"], "d1": g["d1"], "p": g["p"]}
        for c in cells
        if c["n"] <= 100
        for g in c["grid"]
    ]
    if grid_cells:
        figs["fig4_from_w_star.png"] = plotting.full_rank_heatmaps(
            grid_cells,
            title=f"paper convention, exact rank, {cells[0]['trials']} "
            "trials/cell (from w*)",
        )
    with plt.rc_context(plotting.STYLE):
        panels = list(dict.fromkeys(c["panel"] for c in cells))
        fig, axes = plotting.panel_row(len(panels))
        for ax, panel in zip(axes, panels, strict=True):
            sub = [c for c in cells if c["panel"] == panel]
            n = np.array([c["n"] for c in sub], float)
            for q, style in (("q10", ":"), ("q50", "-"), ("q90", "--")):
                val = np.array(
                    [np.nan if c[q]["value"] is None else c[q]["value"] for c in sub],
                    float,
                )
                ax.plot(n, val / n, style, color="C0", label=f"w* {q}")
            fit = results["fits"].get(panel)
            if fit:
                for name, color in zip(MODELS, ("C1", "C2", "C3", "C4"), strict=True):
                    f = fit["models"].get(name)
                    if f is None:
                        continue
                    pred = (
                        f["c0"] + f["c1"] * n
                        if name == "c0+c1*n"
                        else f["c"]
                        * (
                            n
                            if name == "c*n"
                            else n * np.log(n)
                            if name == "c*n*log(n)"
                            else n ** f["a"]
                        )
                    )
                    ax.plot(
                        n,
                        pred / n,
                        color=color,
                        lw=0.8,
                        label=f"{name} (AIC {f['aic']:.1f})",
                    )
            d0 = sub[0]["d0"]
            if panel.startswith("d0=1"):
                ax.plot(
                    n,
                    theory.theorem9_width(n, 0.5) / n,
                    color="k",
                    lw=0.6,
                    label="Theorem 9, eps = 1/2",
                )
            elif panel.startswith("d0="):
                ax.plot(
                    n,
                    theory.theorem2_width(n, d0, 0.5, 1.0) / n,
                    color="k",
                    lw=0.6,
                    label="Theorem 2, eps = 1/2, C1 = 1",
                )
            cens = sum(c["censored"] for c in sub)
            ax.set(xlabel="n", ylabel="width / n", title=f"{panel}: {cens} censored")
            ax.legend(fontsize=6)
        figs["threshold_law.png"] = fig
        fig, axes = plotting.panel_row(len(panels))
        for ax, panel in zip(axes, panels, strict=True):
            idx = [i for i, c in enumerate(cells) if c["panel"] == panel]
            for i in idx[:: max(1, len(idx) // 6)]:
                d1, p, lo, hi = curve(arrays["w_star"][i], int(arrays["cap"][i]))
                (line,) = ax.plot(d1, p, lw=0.8, label=f"n = {cells[i]['n']}")
                ax.fill_between(d1, lo, hi, color=line.get_color(), alpha=0.2, lw=0)
            ax.set(xscale="log", xlabel="d1", ylabel="P(rank J = n)", title=panel)
            ax.legend(fontsize=6)
        figs["full_rank_curves.png"] = fig
    return figs


def report(results: dict) -> str:
    lines = []
    for panel, fit in results["fits"].items():
        m = fit["models"]
        lines.append(
            f"{panel}: best {fit['best']}; c*n c={m['c*n']['c']:.3f} AIC "
            f"{m['c*n']['aic']:.1f}, c*n*log(n) c={m['c*n*log(n)']['c']:.3f} AIC "
            f"{m['c*n*log(n)']['aic']:.1f}, c*n^a a={m['c*n^a']['a']:.3f} AIC "
            f"{m['c*n^a']['aic']:.1f}"
        )
    cells = results["cells"]
    lines.append(
        f"{len(cells)} cells, {sum(c['trials'] for c in cells)} trials, "
        f"censored {sum(c['censored'] for c in cells)}, unverified cuts "
        f"{sum(c['unverified_cuts'] for c in cells)}, "
        f"{results['metadata']['wall_time_s']:.1f} s"
    )
    fc = results.get("float_check") or {}
    if fc:
        lines.append(
            f"float SVD rule on {fc['decisions']} decisions: {fc['disagree']} "
            f"disagreements, {fc['borderline']} borderline"
        )
    return "\n".join(lines)
