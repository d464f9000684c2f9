"""The full-rank threshold: each trial's minimal full-rank width w*, exactly, and its law.

A cell is a panel (fixed d0, or d0 = ⌈ratio·n⌉) and a data-set size n; a trial is the
paper convention's draw of data and a network of ``cap`` units (the keys and draws of
``full_rank``'s trials: its trial t at width d1 is this trial cut to d1 units). w* is
computed exactly (``jaxnet.threshold``: the combinatorial rank for d0 = 1, elimination
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
import math
import sys
import time

import jax.numpy as jnp
import numpy as np

from jaxnet import config, jacobian, prng, runner, stats, theory
from jaxnet import threshold as th
from jaxnet.experiments import full_rank as fr

SPEC = runner.Spec("threshold", "slides, Figure 4 as a threshold law: minimal full-rank "
                   "widths w*, exact", arrays="w_star.npz",
                   options=("out", "progress", "checkpoint_every", "stall_timeout"))
QUANTILES = (0.1, 0.5, 0.9)
LAW_N = tuple(range(50, 1001, 50))
FIG4_WIDTHS = tuple(range(30, 301, 30))
MODELS = ("c*n", "c*n*log(n)", "c*n^a", "c0+c1*n")


def cap_width(n: int, d0: int, factor: float, minimum: int) -> int:
    """The width cap of a cell: ⌈factor·n^1.5/(d0 + 1)⌉, at least ``minimum`` (for d0 =
    1 the median w* grows like n^1.5 with a heavy upper tail: see README)."""
    return max(minimum, math.ceil(factor * n**1.5 / (d0 + 1)))


@dataclasses.dataclass(frozen=True)
class Config:
    """Every (panel, n) cell, ``trials`` trials each, w* exact up to the cell's cap."""

    d0: tuple[int, ...] = config.field((1,), help="fixed input dimensions",
                                       check=config.ints(allow_empty=True))
    ratio: tuple[float, ...] = config.field((), help="d0 = ceil(ratio*n) panels",
                                            check=config.reals(low=0, low_open=True,
                                                               allow_empty=True))
    n: tuple[int, ...] = config.field(LAW_N, help="data-set sizes", check=config.ints())
    trials: int = config.field(1000, help="trials per cell", check=config.count())
    cap_factor: float = config.field(40.0, help="width cap: ceil(cap_factor * n^1.5 / "
                                     "(d0 + 1)) units per trial", check=config.POSITIVE)
    min_cap: int = config.field(300, help="... and at least this many",
                                check=config.count())
    widths: tuple[int, ...] = config.field(FIG4_WIDTHS, help="the widths of Figure "
                                           "4's heatmaps and of the float cross-check",
                                           check=config.ints())
    check_float: int = config.field(0, help="decide the first K trials of every cell "
                                    "with n <= 100 also by the float SVD rule at "
                                    "--widths (same keys)", check=config.count(0))
    bootstrap: int = config.field(1000, help="bootstrap resamples of the quantiles",
                                  check=config.count())
    seed: int = config.field(0, help="base PRNG seed", check=config.SEED)
    chunk: int = config.field(64, help="trials per compiled call per device",
                              affects_results=False, check=config.count())

    def __post_init__(self):
        config.freeze(self)
        if not self.d0 and not self.ratio:
            raise ValueError("d0 must hold an input dimension when ratio is empty")

    def cells(self):
        """``(panel, n, d0, cap)`` per cell."""
        out = [(f"d0={d}", n, d) for d in self.d0 for n in self.n]
        out += [(f"ratio={r:g}", n, fr.ratio_d0(r, n)) for r in self.ratio for n in self.n]
        return [(p, n, d, cap_width(n, d, self.cap_factor, self.min_cap))
                for p, n, d in out]


BLOCK_MOD_P = 8  # units drawn at a time for d0 >= 2 (O(N^2 (d0 + 1)) a unit)


def block_1d(big_n: int) -> int:
    """Units drawn at a time for d0 = 1: about an eighth of the median w* (~n^1.5), a
    power of two in [64, 8192], so a trial takes ~10 cheap blocks."""
    return int(2 ** np.clip(round(math.log2(max(big_n, 2) ** 1.5 / 8)), 6, 13))


def law(*, out=None, progress: bool = False, **config) -> runner.Result:
    """The threshold law in one call. Keyword arguments are ``Config``'s fields.

    Example:
      >>> from jaxnet.experiments import threshold
      >>> res = threshold.law(d0=[1], n=range(50, 1001, 50), trials=1000)
      >>> res.results["fits"]["d0=1"]["best"], res.plot()
    """
    return runner.run(sys.modules[__name__], Config(**config),
                      runner.Options(out=out, progress=progress))


def paper_units_1d(key, start, size: int):
    """Units [start, start + size) of the paper convention's d0 = 1 network as the
    rank needs them: ``(w, b, v != 0)``. w and b are ``full_rank.sample_units``'s
    numbers; of v only whether it is 0 matters (its columns vanish), which for
    √2·erfinv(2u − 1) means u = 1/2 exactly: tested on u, no erfinv."""
    units = start + jnp.arange(size, dtype=jnp.uint32)
    w = prng.normal(prng.block_bits(key, 0, units, jnp.arange(1)), jnp.float64)[:, 0]
    b = prng.normal(prng.block_bits(key, 1, jnp.zeros(1), units), jnp.float64)[0]
    u_v = prng.uniform(prng.block_bits(key, 2, jnp.zeros(1), units), jnp.float64,
                       open_interval=True)[0]
    return w, b, (u_v != 0.5).astype(jnp.float64)


def trial_fn(sizes):
    """``(key, cell) -> {'w_star', 'ok'}`` for cells padded to ``sizes = (N, D0, D)``
    (D: the largest cap). Units are drawn a block at a time (``full_rank.sample_units``:
    the numbers of ``full_rank.sample_trial``) until w* is known or the cell's cap."""
    big_n, big_d0, big_d = sizes

    def one(key, cell):
        n, d0, cap = cell["n"], cell["d0"], cell["cap"]
        _, xs, row_mask = fr.sample_trial(key, "paper", n, d0, 1, sizes=(big_n, big_d0, 1),
                                          dtype=jnp.float64)

        def units(start, size):
            p = fr.sample_units(key, "paper", start, size, d0, big_d0=big_d0,
                                dtype=jnp.float64)
            return p["w"], p["b"], p["v"]

        if big_d0 == 1:
            block = block_1d(big_n)
            w_star, ok = th.min_width_1d_stream(
                lambda start: paper_units_1d(key, start, block), xs[:, 0], n, cap,
                block=block, max_units=big_d)
        else:
            def activations(start):
                w, b, v = units(start, BLOCK_MOD_P)
                pre = xs @ w.T + b[None, :]
                return ((pre > 0) & row_mask[:, None] & (v != 0)[None, :]).astype(
                    jnp.float64)

            x_aug = fr.integer_data(key, big_n, big_d0, d0).astype(jnp.float64)
            w_star, _ = th.min_width_mod_p_stream(activations, x_aug, n, cap,
                                                  block=BLOCK_MOD_P)
            ok = jnp.bool_(True)
        return {"w_star": w_star, "ok": ok}

    return one


# The cost model of a d0 ≥ 2 program (``_buckets``): a trial reduces about c·n columns
# of N rows against an N × N basis, so a program of cells padded to N runs for about
# MOD_P_SECONDS · trials · Σ n·N² seconds and compiles in about COMPILE_SECONDS
# (both measured on the 2-core CPU, threshold_d0 --quick: 3e-9 s and ~1 s).
MOD_P_SECONDS = 3e-9
COMPILE_SECONDS = 1.0


def _buckets(cells, trials: int):
    """Cells grouped into compiled programs: d0 = 1 cells padded to powers of two (its
    cost is O((N + D) log N)); d0 ≥ 2 cells one program per (n, d0), then merged
    (``runner.merge_programs``, same d0 only: a padded coordinate costs a column) while
    the padding costs less than a compilation. A trial's w* does not depend on its
    padding (counter-based draws; padded rows are zero), so neither do the results."""
    groups: dict[tuple, list[int]] = {}
    for i, (_, n, d0, _cap) in enumerate(cells):
        key = ("1d", 1 << math.ceil(math.log2(n))) if d0 == 1 else ("p", n, d0)
        groups.setdefault(key, []).append(i)
    ns = np.array([c[1] for c in cells])
    d0s = np.array([c[2] for c in cells])

    def cost(idx):
        return MOD_P_SECONDS * trials * float((ns[idx] * ns[idx].max() ** 2).sum())

    def compatible(a, b):
        return d0s[a[0]] != 1 and d0s[a[0]] == d0s[b[0]]

    plan = runner.merge_programs(list(groups.values()), cost,
                                 compile_seconds=COMPILE_SECONDS, compatible=compatible)
    out = []
    for idx in plan:
        sizes = (int(ns[idx].max()), int(d0s[idx].max()),
                 int(max(cells[i][3] for i in idx)))
        out.append((sizes, [int(i) for i in idx]))
    return sorted(out)


def quantile_summary(w_star: np.ndarray, cap: int, rng: np.random.Generator,
                     n_boot: int, boot_medians: list | None = None) -> dict:
    """Quantiles of one cell's w* (censored above ``cap``) with bootstrap intervals;
    a quantile (or interval end) that falls among the censored trials is ``None``.
    ``boot_medians``, if given, receives the bootstrap replicates of the median (NaN
    where censored) for the fits' intervals."""
    t = len(w_star)
    srt = np.sort(w_star)
    boot = np.sort(rng.choice(w_star, size=(n_boot, t), replace=True), axis=1)
    if boot_medians is not None:
        med = boot[:, max(0, math.ceil(0.5 * t) - 1)].astype(float)
        boot_medians.append(np.where(med <= cap, med, np.nan))
    out = {}
    for q in QUANTILES:
        k = max(0, math.ceil(q * t) - 1)  # the inverted-CDF empirical quantile
        value = int(srt[k]) if srt[k] <= cap else None
        qs = boot[:, k]
        lo, hi = np.quantile(qs, [0.025, 0.975], method="inverted_cdf")
        out[f"q{round(100 * q)}"] = {
            "value": value,
            "ci95": [int(lo) if lo <= cap else None, int(hi) if hi <= cap else None]}
    return out


def _fit_models(n, y):
    """Least-squares fits of ``y = log m`` for each model: ``{name: (params, pred)}``."""
    out = {}
    for name in MODELS:
        if name == "c0+c1*n":  # affine: least squares on log m, from the linear fit
            from scipy.optimize import least_squares

            m = np.exp(y)
            init = np.polyfit(n, m, 1)[::-1]
            if init[0] + init[1] * n.min() <= 0:
                init = np.array([0.0, float(np.mean(m / n))])
            fit = least_squares(lambda c: np.log(np.maximum(c[0] + c[1] * n, 1e-300)) - y,
                                init, method="lm")
            c0, c1 = (float(v) for v in fit.x)
            pred = np.log(np.maximum(c0 + c1 * n, 1e-300))
            params = {"c0": c0, "c1": c1}
        elif name == "c*n^a":
            a_mat = np.stack([np.ones_like(n), np.log(n)], axis=1)
            coef, *_ = np.linalg.lstsq(a_mat, y, rcond=None)
            pred, params = a_mat @ coef, {"c": float(np.exp(coef[0])), "a": float(coef[1])}
        else:
            base = np.log(n) + (np.log(np.log(n)) if name == "c*n*log(n)" else 0)
            log_c = float(np.mean(y - base))
            pred, params = base + log_c, {"c": float(np.exp(log_c))}
        out[name] = (params, pred)
    return out


def fit_law(n, m, boot=None) -> dict:
    """Fits of the medians ``m`` against n: least squares on log m; AIC = k·log(RSS/k)
    + 2·(parameters), the smaller the better (``best``). ``boot``: ``(B, len(n))``
    bootstrap replicates of the medians (NaN: undetermined), for 95% intervals of the
    parameters and the fraction of replicates each model wins."""
    n, m = np.asarray(n, float), np.asarray(m, float)
    y = np.log(m)
    fits = {}
    for name, (params, pred) in _fit_models(n, y).items():
        rss = float(np.sum((y - pred) ** 2))
        k = len(n)
        fits[name] = {**params, "rss_log": rss,
                      "aic": k * math.log(max(rss, 1e-300) / k) + 2 * len(params),
                      "residuals_log": (y - pred).tolist()}
    best = min(fits, key=lambda name: fits[name]["aic"])
    out = {"models": fits, "best": best, "n": n.tolist(), "median": m.tolist(),
           "criterion": "AIC on log(median w*), Gaussian residuals"}
    if boot is not None:
        boot = np.asarray(boot, float)
        boot = boot[np.all(np.isfinite(boot), axis=1)]
        if len(boot):
            wins = dict.fromkeys(MODELS, 0)
            per = {name: [] for name in MODELS}
            for row in boot:
                aic = {}
                for name, (params, pred) in _fit_models(n, np.log(row)).items():
                    per[name].append(params)
                    rss = float(np.sum((np.log(row) - pred) ** 2))
                    aic[name] = len(n) * math.log(max(rss, 1e-300) / len(n)) + 2 * len(
                        params)
                wins[min(aic, key=aic.get)] += 1
            for name in MODELS:
                for k in per[name][0]:
                    vals = [p[k] for p in per[name]]
                    fits[name][f"{k}_ci95"] = np.quantile(vals, [0.025, 0.975]).tolist()
            out["bootstrap"] = {"replicates": len(boot),
                                "wins": {k: v / len(boot) for k, v in wins.items()}}
    return out


def _float_check(cfg: Config, ctx: runner.Context, cells, w_star) -> dict:
    """The float SVD rule (``full_rank``) on the first trials of the cells with n <=
    100, at ``cfg.widths``: disagreements with w* <= d1, trial by trial."""
    rows = [i for i, c in enumerate(cells) if c[1] <= 100]
    if not rows or not cfg.check_float:
        return {}
    k = min(cfg.check_float, cfg.trials)
    out = {"trials_per_cell": k, "cells": 0, "decisions": 0, "disagree": 0,
           "borderline": 0, "disagreements": []}
    groups: dict[tuple, list[int]] = {}  # one float sweep per (d0, widths), not per cell
    for i in rows:
        _, _, d0, cap = cells[i]
        groups.setdefault((d0, tuple(w for w in cfg.widths if w <= cap)), []).append(i)
    for (d0, widths), idx in groups.items():
        grid = fr.make_grid("paper", d0_values=(d0,), n_values=[cells[i][1] for i in idx],
                            d1_values=widths, rank_dtype="float64")
        res = fr.run_grid("paper", grid, k, ctx=ctx, chunk=cfg.chunk,
                          rank_dtype="float64")
        full_all = np.isin(res["code"], jacobian.FULL_CODES)
        ratio = res["s_ratio"] / grid.rtol[:, None]  # NaN where a certificate decided
        border_all = np.isfinite(ratio) & (np.abs(np.log(np.maximum(ratio, 1e-300)))
                                           < np.log(2.0))  # s_n/s_1 within 2x of rtol
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
                out["disagreements"].append({"panel": panel, "n": n, "d1": widths[j],
                                             "trial": int(t),
                                             "float_full": bool(full[j, t])})
    return out


def run_w_star(ctx: runner.Context, cells, trials: int, *, chunk: int):
    """w* of ``trials`` trials of every ``(panel, n, d0, cap)`` cell, on ``full_rank``'s
    keys (its trial t at width d1 is this trial cut to d1 units): ``(w_star, ok,
    timings)``, ``(C, trials)`` arrays (``cap + 1``: censored)."""
    seeds = np.array([runner.cell_seed("full_rank", "paper", n, d0)
                      for _, n, d0, _ in cells], np.uint32)
    w_star = np.zeros((len(cells), trials), np.int32)
    ok = np.zeros((len(cells), trials), bool)
    timings = []
    for sizes, idx in _buckets(cells, trials):
        sub = {"n": np.array([cells[i][1] for i in idx], np.int32),
               "d0": np.array([cells[i][2] for i in idx], np.int32),
               "cap": np.array([cells[i][3] for i in idx], np.int32)}
        t0 = time.perf_counter()
        # One trial after another per device: a trial's cost is its random w*, whose
        # upper tail is heavy; vmapped lanes would all wait for the slowest.
        res = ctx.device(trial_fn(sizes), sub, seeds[idx], trials, chunk=chunk,
                         sequential=True,
                         desc=f"w* N={sizes[0]} d0={sizes[1]}")
        timings.append({"sizes": list(sizes), "cells": len(idx),
                        "seconds": time.perf_counter() - t0})
        w_star[idx], ok[idx] = res["w_star"], res["ok"]
    return w_star, ok, timings


def compute(cfg: Config, ctx: runner.Context):
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
        out_cells.append({
            "panel": panel, "n": n, "d0": d0, "cap": cap, "trials": cfg.trials,
            "censored": censored, "unverified_cuts": int((~ok[i]).sum()),
            **quantile_summary(w, cap, rng, cfg.bootstrap, boot_medians),
            "grid": [{"d1": d, "full_rank": f, "p": f / cfg.trials,
                      "p_ci95": [float(a), float(b)]}
                     for d, f, a, b in zip(d1s, full, lo, hi, strict=True)],
        })
    panels = {}
    for panel in dict.fromkeys(c["panel"] for c in out_cells):
        idx = [i for i, c in enumerate(out_cells) if c["panel"] == panel
               and c["q50"]["value"] and c["n"] >= 3]
        if len(idx) >= 3:
            panels[panel] = fit_law([out_cells[i]["n"] for i in idx],
                                    [out_cells[i]["q50"]["value"] for i in idx],
                                    np.stack([boot_medians[i] for i in idx], axis=1))
    body = {
        "rank": "exact: combinatorial for d0 = 1, Gauss-Jordan mod p = "
                f"{th.PRIME} of the generic rank (integer data) for d0 >= 2",
        "cells": out_cells, "fits": panels,
        "float_check": _float_check(cfg, ctx, cells, w_star),
        "metadata": {"programs": timings},
    }
    return body, {"w_star": w_star, "cap": np.array([c[3] for c in cells], np.int32)}


def curve(w_star: np.ndarray, cap: int):
    """``(d1, p, lo, hi)``: P(w* <= d1) for d1 = 1..cap with Wilson 95% bands."""
    t = len(w_star)
    counts = np.cumsum(np.bincount(np.minimum(w_star, cap + 1), minlength=cap + 2))[1:-1]
    lo, hi = stats.wilson_interval(counts, t)
    return np.arange(1, cap + 1), counts / t, np.asarray(lo), np.asarray(hi)


def plot(results: dict, arrays: dict) -> dict:
    import matplotlib.pyplot as plt

    from jaxnet import plotting

    cells = results["cells"]
    figs = {}
    grid_cells = [{"panel": c["panel"], "n": c["n"], "d1": g["d1"], "p": g["p"]}
                  for c in cells if c["n"] <= 100 for g in c["grid"]]
    if grid_cells:
        figs["fig4_from_w_star.png"] = plotting.full_rank_heatmaps(
            grid_cells, title=f"paper convention, exact rank, {cells[0]['trials']} "
                              "trials/cell (from w*)")
    with plt.rc_context(plotting.STYLE):
        panels = list(dict.fromkeys(c["panel"] for c in cells))
        fig, axes = plt.subplots(1, len(panels), figsize=(4.5 * len(panels), 4),
                                 squeeze=False, constrained_layout=True)
        for ax, panel in zip(axes[0], panels, strict=True):
            sub = [c for c in cells if c["panel"] == panel]
            n = np.array([c["n"] for c in sub], float)
            for q, style in (("q10", ":"), ("q50", "-"), ("q90", "--")):
                val = np.array([np.nan if c[q]["value"] is None else c[q]["value"]
                                for c in sub], float)
                ax.plot(n, val / n, style, color="C0", label=f"w* {q}")
            fit = results["fits"].get(panel)
            if fit:
                for name, color in zip(MODELS, ("C1", "C2", "C3", "C4"), strict=True):
                    f = fit["models"].get(name)
                    if f is None:
                        continue
                    pred = (f["c0"] + f["c1"] * n if name == "c0+c1*n" else
                            f["c"] * (n if name == "c*n" else n * np.log(n) if
                                      name == "c*n*log(n)" else n ** f["a"]))
                    ax.plot(n, pred / n, color=color, lw=0.8,
                            label=f"{name} (AIC {f['aic']:.1f})")
            d0 = sub[0]["d0"]
            if panel.startswith("d0=1"):
                ax.plot(n, theory.theorem9_width(n, 0.5) / n, color="k", lw=0.6,
                        label="Theorem 9, eps = 1/2")
            elif panel.startswith("d0="):
                ax.plot(n, theory.theorem2_width(n, d0, 0.5, 1.0) / n, color="k",
                        lw=0.6, label="Theorem 2, eps = 1/2, C1 = 1")
            cens = sum(c["censored"] for c in sub)
            ax.set(xlabel="n", ylabel="width / n", title=f"{panel}: {cens} censored")
            ax.legend(fontsize=6)
        figs["threshold_law.png"] = fig
        fig, axes = plt.subplots(1, len(panels), figsize=(4.5 * len(panels), 4),
                                 squeeze=False, constrained_layout=True)
        for ax, panel in zip(axes[0], panels, strict=True):
            idx = [i for i, c in enumerate(cells) if c["panel"] == panel]
            for i in idx[:: max(1, len(idx) // 6)]:
                d1, p, lo, hi = curve(arrays["w_star"][i], int(arrays["cap"][i]))
                line, = ax.plot(d1, p, lw=0.8, label=f"n = {cells[i]['n']}")
                ax.fill_between(d1, lo, hi, color=line.get_color(), alpha=0.2, lw=0)
            ax.set(xscale="log", xlabel="d1", ylabel="P(rank J = n)", title=panel)
            ax.legend(fontsize=6)
        figs["full_rank_curves.png"] = fig
    return figs


def report(results: dict) -> str:
    lines = []
    for panel, fit in results["fits"].items():
        m = fit["models"]
        lines.append(f"{panel}: best {fit['best']}; c*n c={m['c*n']['c']:.3f} AIC "
                     f"{m['c*n']['aic']:.1f}, c*n*log(n) c={m['c*n*log(n)']['c']:.3f} AIC "
                     f"{m['c*n*log(n)']['aic']:.1f}, c*n^a a={m['c*n^a']['a']:.3f} AIC "
                     f"{m['c*n^a']['aic']:.1f}")
    cells = results["cells"]
    lines.append(f"{len(cells)} cells, {sum(c['trials'] for c in cells)} trials, "
                 f"censored {sum(c['censored'] for c in cells)}, unverified cuts "
                 f"{sum(c['unverified_cuts'] for c in cells)}, "
                 f"{results['metadata']['wall_time_s']:.1f} s")
    fc = results.get("float_check") or {}
    if fc:
        lines.append(f"float SVD rule on {fc['decisions']} decisions: {fc['disagree']} "
                     f"disagreements, {fc['borderline']} borderline")
    return "\n".join(lines)
