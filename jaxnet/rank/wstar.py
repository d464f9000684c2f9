"""The threshold engine: each trial's exact minimal full-rank width w*, and its law.

A trial is the paper convention's draw of data and a network of ``cap`` units (the
keys and draws of the Figure-4 engine ``jaxnet.rank.fig4``: its trial t at width d1 is
this trial cut to d1 units). w* is computed exactly (``jaxnet.rank.min_width``: the
combinatorial rank for d0 = 1, elimination modulo a prime of the generic rank for
d0 ≥ 2), so one draw gives P(full rank at d1) = P(w* ≤ d1) for every d1 ≤ cap. Trials
with w* > cap are *censored*. Also here: quantiles of w* with bootstrap intervals
under censoring, and fits of the median against c·n, c·n·log n, c·n^a and c0 + c1·n.
"""

from __future__ import annotations

import math
import time

import jax.numpy as jnp
import numpy as np

from jaxnet import prng, runtime, stats
from jaxnet.rank import fig4, min_width

QUANTILES = (0.1, 0.5, 0.9)
MODELS = ("c*n", "c*n*log(n)", "c*n^a", "c0+c1*n")


def cap_width(n: int, d0: int, factor: float, minimum: int) -> int:
    """The width cap of a cell: ⌈factor·n^1.5/(d0 + 1)⌉, at least ``minimum`` (for d0 =
    1 the median w* grows like n^1.5 with a heavy upper tail: docs/topics/threshold_law.md)."""
    return max(minimum, math.ceil(factor * n**1.5 / (d0 + 1)))


BLOCK_MOD_P = 8  # units drawn at a time for d0 >= 2 (O(N^2 (d0 + 1)) a unit)


def block_1d(big_n: int) -> int:
    """Units drawn at a time for d0 = 1: about an eighth of the median w* (~n^1.5), a
    power of two in [64, 8192], so a trial takes ~10 cheap blocks."""
    return int(2 ** np.clip(round(math.log2(max(big_n, 2) ** 1.5 / 8)), 6, 13))


def paper_units_1d(key, start, size: int):
    """Units [start, start + size) of the paper convention's d0 = 1 network as the
    rank needs them: ``(w, b, v != 0)``. w and b are ``full_rank.sample_units``'s
    numbers; of v only whether it is 0 matters (its columns vanish), which for
    √2·erfinv(2u − 1) means u = 1/2 exactly: tested on u, no erfinv."""
    units = start + jnp.arange(size, dtype=jnp.uint32)
    w = prng.normal(prng.block_bits(key, 0, units, jnp.arange(1)), jnp.float64)[:, 0]
    b = prng.normal(prng.block_bits(key, 1, jnp.zeros(1), units), jnp.float64)[0]
    u_v = prng.uniform(
        prng.block_bits(key, 2, jnp.zeros(1), units), jnp.float64, open_interval=True
    )[0]
    return w, b, (u_v != 0.5).astype(jnp.float64)


def trial_fn(sizes):
    """``(key, cell) -> {'w_star', 'ok'}`` for cells padded to ``sizes = (N, D0, D)``
    (D: the largest cap). Units are drawn a block at a time (``full_rank.sample_units``:
    the numbers of ``full_rank.sample_trial``) until w* is known or the cell's cap."""
    big_n, big_d0, big_d = sizes

    def one(key, cell):
        n, d0, cap = cell["n"], cell["d0"], cell["cap"]
        _, xs, row_mask = fig4.sample_trial(
            key, "paper", n, d0, 1, sizes=(big_n, big_d0, 1), dtype=jnp.float64
        )

        def units(start, size):
            p = fig4.sample_units(
                key, "paper", start, size, d0, big_d0=big_d0, dtype=jnp.float64
            )
            return p["w"], p["b"], p["v"]

        if big_d0 == 1:
            block = block_1d(big_n)
            w_star, ok = min_width.min_width_1d_stream(
                lambda start: paper_units_1d(key, start, block),
                xs[:, 0],
                n,
                cap,
                block=block,
                max_units=big_d,
            )
        else:

            def activations(start):
                w, b, v = units(start, BLOCK_MOD_P)
                pre = xs @ w.T + b[None, :]
                return ((pre > 0) & row_mask[:, None] & (v != 0)[None, :]).astype(
                    jnp.float64
                )

            x_aug = fig4.integer_data(key, big_n, big_d0, d0).astype(jnp.float64)
            w_star, _ = min_width.min_width_mod_p_stream(
                activations, x_aug, n, cap, block=BLOCK_MOD_P
            )
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
    (``runtime.merge_programs``, same d0 only: a padded coordinate costs a column) while
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

    plan = runtime.merge_programs(
        list(groups.values()),
        cost,
        compile_seconds=COMPILE_SECONDS,
        compatible=compatible,
    )
    out = []
    for idx in plan:
        sizes = (
            int(ns[idx].max()),
            int(d0s[idx].max()),
            int(max(cells[i][3] for i in idx)),
        )
        out.append((sizes, [int(i) for i in idx]))
    return sorted(out)


def quantile_summary(
    w_star: np.ndarray,
    cap: int,
    rng: np.random.Generator,
    n_boot: int,
    boot_medians: list | None = None,
) -> dict:
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
            "ci95": [int(lo) if lo <= cap else None, int(hi) if hi <= cap else None],
        }
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
            fit = least_squares(
                lambda c: np.log(np.maximum(c[0] + c[1] * n, 1e-300)) - y,
                init,
                method="lm",
            )
            c0, c1 = (float(v) for v in fit.x)
            pred = np.log(np.maximum(c0 + c1 * n, 1e-300))
            params = {"c0": c0, "c1": c1}
        elif name == "c*n^a":
            a_mat = np.stack([np.ones_like(n), np.log(n)], axis=1)
            coef, *_ = np.linalg.lstsq(a_mat, y, rcond=None)
            pred, params = (
                a_mat @ coef,
                {"c": float(np.exp(coef[0])), "a": float(coef[1])},
            )
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
        fits[name] = {
            **params,
            "rss_log": rss,
            "aic": k * math.log(max(rss, 1e-300) / k) + 2 * len(params),
            "residuals_log": (y - pred).tolist(),
        }
    best = min(fits, key=lambda name: fits[name]["aic"])
    out = {
        "models": fits,
        "best": best,
        "n": n.tolist(),
        "median": m.tolist(),
        "criterion": "AIC on log(median w*), Gaussian residuals",
    }
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
                        params
                    )
                wins[min(aic, key=aic.get)] += 1
            for name in MODELS:
                for k in per[name][0]:
                    vals = [p[k] for p in per[name]]
                    fits[name][f"{k}_ci95"] = np.quantile(vals, [0.025, 0.975]).tolist()
            out["bootstrap"] = {
                "replicates": len(boot),
                "wins": {k: v / len(boot) for k, v in wins.items()},
            }
    return out


def run_w_star(ctx: runtime.Context, cells, trials: int, *, chunk: int):
    """w* of ``trials`` trials of every ``(panel, n, d0, cap)`` cell, on ``full_rank``'s
    keys (its trial t at width d1 is this trial cut to d1 units): ``(w_star, ok,
    timings)``, ``(C, trials)`` arrays (``cap + 1``: censored)."""
    seeds = np.array(
        [fig4.column_seed("paper", n, d0) for _, n, d0, _ in cells], np.uint32
    )
    w_star = np.zeros((len(cells), trials), np.int32)
    ok = np.zeros((len(cells), trials), bool)
    timings = []
    for sizes, idx in _buckets(cells, trials):
        sub = {
            "n": np.array([cells[i][1] for i in idx], np.int32),
            "d0": np.array([cells[i][2] for i in idx], np.int32),
            "cap": np.array([cells[i][3] for i in idx], np.int32),
        }
        t0 = time.perf_counter()
        # One trial after another per device: a trial's cost is its random w*, whose
        # upper tail is heavy; vmapped lanes would all wait for the slowest.
        res = ctx.device(
            trial_fn(sizes),
            sub,
            seeds[idx],
            trials,
            chunk=chunk,
            sequential=True,
            desc=f"w* N={sizes[0]} d0={sizes[1]}",
        )
        timings.append(
            {
                "sizes": list(sizes),
                "cells": len(idx),
                "seconds": time.perf_counter() - t0,
            }
        )
        w_star[idx], ok[idx] = res["w_star"], res["ok"]
    return w_star, ok, timings


def curve(w_star: np.ndarray, cap: int):
    """``(d1, p, lo, hi)``: P(w* <= d1) for d1 = 1..cap with Wilson 95% bands."""
    t = len(w_star)
    counts = np.cumsum(np.bincount(np.minimum(w_star, cap + 1), minlength=cap + 2))[
        1:-1
    ]
    lo, hi = stats.wilson_interval(counts, t)
    return np.arange(1, cap + 1), counts / t, np.asarray(lo), np.asarray(hi)
