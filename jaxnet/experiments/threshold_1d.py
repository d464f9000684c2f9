"""The d0 = 1 threshold law, derived: w*/n^{3/2} → Fréchet(2), checked without drawing units.

Four parts, each trial a data set drawn from its trial key exactly as Figure 4's
trials draw it (``jaxnet.rank.trials.sample_trial``, float64):

- **law**: for every n of ``law_n`` (up to 10⁵) and convention, max(``law_data``,
  ``law_points``/n) data sets,
  and for each the exact P(full rank | data) with a Poisson(λ) number of units at
  λ = t·n^{3/2} for every t of the grid (``jaxnet.rank.conditional.poisson_chain``).
  Their mean is the law of w*/n^{3/2} up to the Poisson width: since
  F(λ) = P(w* ≤ N_λ), the true CDF at λ ± 4√λ is within F(λ) ∓ 6.4·10⁻⁵ of it (the
  horizontal error 4√(t)·n^{−3/4} is reported per n). Per n: the 10/50/90% quantiles
  with percentile-bootstrap intervals over data sets, the KS distance to the Fréchet
  limit exp(−K/t²) and to the finite-n law exp(−μ_n(t)) (``jaxnet.rank.limit_law``),
  and the effective exponent of the median between consecutive n.
- **panel**: Figure 4's d0 = 1 panel at its widths from ``panel_data`` data sets per n,
  P(full rank at d1 | data) for each (the Poisson–Charlier expansion of F to order 8,
  its derivatives from F at d1 − 4..d1 + 4), averaged: the estimate with a CLT interval
  over data sets. On the first ``exact_check`` data sets of each n the exact
  computation (``exact_prob``, a rigorous error bound) decides the same cells; the
  largest difference is reported.
- **engine**: for every n of ``engine_n`` (≤ 200), ``engine_trials`` trials of the
  unit-drawing threshold engine (``jaxnet.rank.wstar``: exact w*, same keys, same data
  sets): at each width of the panel grid, the observed count of w* ≤ d1 against the sum
  of the data sets' conditional probabilities, z = (O − E)/√Σp(1 − p), judged
  family-wise (Bonferroni, α = 0.05); and the randomized PIT of each w* under its own
  conditional law, against U(0, 1) by a KS test.

- **engine law**: the unit-drawing engine's exact w* at ``engine_law_n`` (up to 10⁴),
  ``engine_law_trials`` trials each: the same quantiles, measured by drawing units.

The derivation is ``jaxnet.rank.limit_law``'s docstring (and docs/topics/threshold_law.md).

Length (about 570 lines): one experiment's four parts over four computations (law,
panel, engine check, engine law), each with its summary, and two figures; the
mathematics lives in ``jaxnet.rank.conditional`` and ``jaxnet.rank.limit_law``.
"""

from __future__ import annotations

import dataclasses
import math
import sys

import jax.numpy as jnp
import numpy as np

from jaxnet import plotting, runtime, stats
from jaxnet.rank import conditional, fig4, limit_law, wstar
from jaxnet.runtime import config

SPEC = runtime.Spec(
    "threshold_1d",
    "beyond the documents: the d0 = 1 threshold law, derived (w*/n^1.5 -> Frechet(2))",
    arrays="threshold_1d.npz",
    options=("out", "progress", "checkpoint_every", "stall_timeout"),
)
ALPHA = 0.05


@dataclasses.dataclass(frozen=True)
class Config:
    """The three parts (module docstring); a part with an empty size list is skipped."""

    conventions: tuple[str, ...] = config.field(
        ("paper", "peer"),
        choices=conditional.CONVENTIONS,
        help="conventions of the law part (panel and engine: paper)",
    )
    law_n: tuple[int, ...] = config.field(
        (100, 316, 1000, 3162, 10000, 31623, 100000),
        help="data-set sizes of the law part",
        check=config.ints(3, allow_empty=True),
    )
    law_data: int = config.field(
        100, help="data sets per n (law), at least", check=config.count()
    )
    law_points: int = config.field(
        2_000_000,
        help="law: data sets per n = max(law_data, law_points / n) (the data's own "
        "variability dominates at small n)",
        check=config.count(),
    )
    t_min: float = config.field(
        0.2, help="smallest t = width/n^1.5", check=config.POSITIVE
    )
    t_max: float = config.field(40.0, help="largest t", check=config.POSITIVE)
    t_points: int = config.field(48, help="t grid (log-spaced)", check=config.count(8))
    panel_n: tuple[int, ...] = config.field(
        tuple(range(10, 101, 10)),
        help="data-set sizes of the panel part",
        check=config.ints(3, allow_empty=True),
    )
    panel_widths: tuple[int, ...] = config.field(
        tuple(range(30, 301, 30)), help="the panel's widths d1", check=config.ints(5)
    )
    panel_data: int = config.field(
        10000, help="data sets per n (panel)", check=config.count()
    )
    exact_check: int = config.field(
        20, help="data sets per n decided also exactly", check=config.count(0)
    )
    engine_n: tuple[int, ...] = config.field(
        (20, 50, 100, 200),
        help="data-set sizes of the engine part (<= 200)",
        check=config.ints(3, allow_empty=True),
    )
    engine_trials: int = config.field(
        1000, help="unit-drawing trials per n", check=config.count(2)
    )
    engine_law_n: tuple[int, ...] = config.field(
        (1000, 3162, 10000),
        help="sizes at which the unit-drawing engine measures the law (paper)",
        check=config.ints(3, allow_empty=True),
    )
    engine_law_trials: int = config.field(
        200, help="engine trials per n of engine_law_n", check=config.count(2)
    )
    bootstrap: int = config.field(
        1000, help="bootstrap resamples", check=config.count()
    )
    seed: int = config.seed()
    chunk: int = config.chunk(16, "data sets per compiled call")

    def __post_init__(self):
        config.freeze(self)
        if self.t_max <= self.t_min:
            raise ValueError("t_max must be larger than t_min")
        if any(n > 200 for n in self.engine_n):
            raise ValueError("engine_n must be at most 200 (the engine part's sizes)")

    def data_sets(self, n: int) -> int:
        """Data sets of the law part at size ``n``."""
        return max(self.law_data, -(-self.law_points // n))

    def t_grid(self) -> np.ndarray:
        return np.geomspace(self.t_min, self.t_max, self.t_points)


def _data(key, convention: str, n: int):
    """The trial's sorted data set (Figure 4's draw of that key, float64)."""
    _, xs, _ = fig4.sample_trial(
        key, convention, n, 1, 1, sizes=(n, 1, 1), dtype=jnp.float64
    )
    return jnp.sort(xs[:, 0])


def law_trial(convention: str, n: int, lams):
    """``(key, cell) -> {'F': (L,)}``: F(λ | data) at every λ of ``lams``."""
    lams = jnp.asarray(lams, jnp.float64)

    def one(key, cell):
        x = _data(key, convention, n)
        p = conditional.gap_masses(x[None], convention)
        return {"F": conditional.poisson_chain(p, lams)[0]}

    return one


def _seeds(name: str, convention: str, n: int) -> np.ndarray:
    if name == "engine":  # the threshold engine's keys: Figure 4's column seeds
        return np.array([fig4.column_seed("paper", n, 1)], np.uint32)
    return np.array([runtime.cell_seed(SPEC.name, name, convention, n)], np.uint32)


def _quantiles(t, cdf_rows, rng, boot: int) -> dict:
    """Quantiles of the mean CDF over data sets (rows), interpolated in log t, with
    percentile-bootstrap 95% intervals over data sets."""

    def q_of(mean_cdf):
        out = []
        for q in (0.1, 0.5, 0.9):
            mono = np.maximum.accumulate(mean_cdf)
            if mono[-1] < q or mono[0] > q:
                out.append(float("nan"))
                continue
            out.append(float(np.exp(np.interp(q, mono, np.log(t)))))
        return out

    point = q_of(cdf_rows.mean(0))
    d = cdf_rows.shape[0]
    reps = np.array(
        [q_of(cdf_rows[rng.integers(0, d, d)].mean(0)) for _ in range(boot)]
    )
    lo, hi = np.nanpercentile(reps, [2.5, 97.5], axis=0)
    return {
        f"q{int(q * 100)}": {"value": v, "ci95": [float(a), float(b)]}
        for q, v, a, b in zip((0.1, 0.5, 0.9), point, lo, hi, strict=True)
    }


def _law(cfg: Config, ctx, rng):
    t = cfg.t_grid()
    rows, arrays = [], {}
    for conv in cfg.conventions:
        prev = None
        for n in cfg.law_n:
            lams = t * n**1.5
            data_sets = cfg.data_sets(n)
            out = ctx.device(
                law_trial(conv, n, lams),
                {"n": np.array([n], np.int32)},
                _seeds("law", conv, n),
                data_sets,
                chunk=cfg.chunk,
                desc=f"law {conv} n={n}",
            )
            cdf = out["F"][0]  # (data sets, T)
            arrays[f"law_{conv}_{n}"] = cdf
            mean = cdf.mean(0)
            row = {
                "convention": conv,
                "n": n,
                "data_sets": data_sets,
                **_quantiles(t, cdf, rng, cfg.bootstrap),
                "ks_frechet": float(
                    np.abs(mean - limit_law.frechet_cdf(t, conv)).max()
                ),
                "ks_finite_n": float(
                    np.abs(mean - limit_law.law_cdf(t, n, conv)).max()
                ),
                "poisson_shift_t": float(
                    4 * math.sqrt(t[np.argmin(np.abs(mean - 0.5))]) * n**-0.75
                ),
            }
            if prev is not None and prev["q50"]["value"] and row["q50"]["value"]:
                row["exponent_from_prev"] = 1.5 + math.log(
                    row["q50"]["value"] / prev["q50"]["value"]
                ) / math.log(n / prev["n"])
            rows.append(row)
            prev = row
    return rows, arrays


def _stencil_probs(ctx, cfg: Config, part: str, n: int, trials: int, desc: str):
    """P(full rank at each of ``cfg.panel_widths`` | data) for ``trials`` data sets of
    part ``part`` (``conditional.from_stencil``, ``(trials, W)``), and the data."""
    widths = np.asarray(cfg.panel_widths)
    seeds = _seeds(part, "paper", n)
    out = ctx.device(
        law_trial("paper", n, conditional.stencil_means(widths)),
        {"n": np.array([n], np.int32)},
        seeds,
        trials,
        chunk=cfg.chunk,
        desc=desc,
    )
    f = out["F"][0].reshape(trials, len(widths), len(conditional.STENCIL))

    def data(count):
        keys = [runtime.trial_key(ctx.base_key, seeds[0], i) for i in range(count)]
        return np.stack([np.asarray(_data(k, "paper", n)) for k in keys])

    return conditional.from_stencil(f, widths), data


def _panel(cfg: Config, ctx):
    widths = np.asarray(cfg.panel_widths)
    cells, arrays = [], {}
    for n in cfg.panel_n:
        p, data = _stencil_probs(ctx, cfg, "panel", n, cfg.panel_data, f"panel n={n}")
        arrays[f"panel_{n}"] = p
        check = {}
        if cfg.exact_check:
            xs = data(min(cfg.exact_check, cfg.panel_data))
            exact, bound = conditional.exact_prob(xs, widths)
            check = {
                "data_sets": len(xs),
                "max_abs_diff": float(np.abs(exact - p[: len(xs)]).max()),
                "max_bound": float(bound.max()),
            }
        mean, sd = p.mean(0), p.std(0, ddof=1)
        half = stats.Z95 * sd / math.sqrt(cfg.panel_data)
        cells.append(
            {
                "n": n,
                "data_sets": cfg.panel_data,
                "exact_check": check,
                "grid": [
                    {
                        "d1": int(d),
                        "p": float(m),
                        "p_ci95": [float(m - h), float(m + h)],
                    }
                    for d, m, h in zip(widths, mean, half, strict=True)
                ],
            }
        )
    return cells, arrays


def _engine(cfg: Config, ctx, rng):
    from scipy import stats as st

    widths = np.asarray(cfg.panel_widths)
    rows, arrays = [], {}
    for n in cfg.engine_n:
        cap = wstar.cap_width(n, 1, 40.0, 300)
        w_star, _, _ = wstar.run_w_star(
            ctx, [("d0=1", n, 1, cap)], cfg.engine_trials, chunk=cfg.chunk
        )
        w_star = w_star[0]
        # the same keys: this part's trial t is the engine's trial t
        p, data = _stencil_probs(
            ctx, cfg, "engine", n, cfg.engine_trials, f"engine check n={n}"
        )
        observed = (w_star[:, None] <= widths[None, :]).sum(0)
        expected = p.sum(0)
        var = (p * (1 - p)).sum(0)
        z = np.where(
            var > 0, (observed - expected) / np.sqrt(np.maximum(var, 1e-300)), 0.0
        )
        # randomized PIT of each w* under its own conditional law
        lo_w = np.maximum(np.minimum(w_star, cap + 1) - 1, 1)
        pit_widths = np.stack([lo_w, np.minimum(w_star, cap)], 1)  # (T, 2)
        xs = data(cfg.engine_trials)
        cdf = np.stack(
            [
                conditional.depoissonized_prob(xs[i : i + 1], pit_widths[i])[0]
                for i in range(cfg.engine_trials)
            ]
        )
        cdf[:, 0] = np.where(w_star <= 1, 0.0, cdf[:, 0])
        cdf[:, 1] = np.where(w_star > cap, 1.0, cdf[:, 1])  # censored: w* > cap
        u = cdf[:, 0] + rng.random(cfg.engine_trials) * (cdf[:, 1] - cdf[:, 0])
        ks = st.kstest(u, "uniform")
        arrays[f"engine_{n}"] = w_star
        rows.append(
            {
                "n": n,
                "trials": cfg.engine_trials,
                "cap": cap,
                "censored": int((w_star > cap).sum()),
                "grid": [
                    {
                        "d1": int(d),
                        "observed": int(o),
                        "expected": float(e),
                        "z": float(zz),
                    }
                    for d, o, e, zz in zip(widths, observed, expected, z, strict=True)
                ],
                "max_abs_z": float(np.abs(z).max()),
                "pit_ks": {
                    "statistic": float(ks.statistic),
                    "p_value": float(ks.pvalue),
                },
            }
        )
    return rows, arrays


def _engine_law(cfg: Config, ctx, rng):
    """The law's quantiles measured by the unit-drawing engine (exact w*), scaled by
    n^1.5, with bootstrap intervals (``wstar.quantile_summary``)."""
    cells = [("d0=1", n, 1, wstar.cap_width(n, 1, 40.0, 300)) for n in cfg.engine_law_n]
    if not cells:
        return [], {}
    w_star, _, _ = wstar.run_w_star(
        ctx, cells, cfg.engine_law_trials, chunk=max(1, cfg.chunk // 4)
    )
    rows = []
    for (_, n, _, cap), w in zip(cells, w_star, strict=True):
        summary = wstar.quantile_summary(w, cap, rng, cfg.bootstrap)
        scaled = {}
        for q, v in summary.items():
            lo, hi = v["ci95"]
            scaled[q] = {
                "value": None if v["value"] is None else v["value"] / n**1.5,
                "ci95": [
                    None if lo is None else lo / n**1.5,
                    None if hi is None else hi / n**1.5,
                ],
            }
        rows.append(
            {
                "n": n,
                "trials": cfg.engine_law_trials,
                "cap": cap,
                "censored": int((w > cap).sum()),
                **scaled,
            }
        )
    return rows, {"engine_law_w_star": w_star}


def compute(cfg: Config, ctx: runtime.Context):
    rng = np.random.default_rng(cfg.seed)
    law, a1 = _law(cfg, ctx, rng)
    panel, a2 = _panel(cfg, ctx)
    engine, a3 = _engine(cfg, ctx, rng)
    engine_law, a4 = _engine_law(cfg, ctx, rng)
    checks_run = len(cfg.panel_widths) * len(cfg.engine_n)
    z_crit = stats.normal_quantile(1 - ALPHA / (2 * max(checks_run, 1)))
    body = {
        "constants": {
            conv: {
                "K": limit_law.constant(conv),
                "K2": limit_law.constant(conv, 1),
                "limit_quantiles": {
                    f"q{int(q * 100)}": float(limit_law.frechet_quantile(q, conv))
                    for q in (0.1, 0.5, 0.9)
                },
            }
            for conv in limit_law.CONVENTIONS
        },
        "t_grid": cfg.t_grid().tolist(),
        "law": law,
        "engine_law": engine_law,
        "panel": panel,
        "engine": {
            "cells": engine,
            "criterion": f"every |z| <= {z_crit:.3f} (Bonferroni, alpha = {ALPHA}, "
            f"{checks_run} widths x sizes) and every PIT KS p >= {ALPHA / max(len(engine), 1):.4f}",
            "z_critical": z_crit,
            "agrees": bool(
                all(c["max_abs_z"] <= z_crit for c in engine)
                and all(
                    c["pit_ks"]["p_value"] >= ALPHA / max(len(engine), 1)
                    for c in engine
                )
            )
            if engine
            else None,
        },
    }
    return body, {**a1, **a2, **a3, **a4}


def plot(results: dict, arrays: dict) -> dict:
    import matplotlib.pyplot as plt

    figs = {}
    t = np.asarray(results["t_grid"])
    with plt.rc_context(plotting.STYLE):
        convs = list(dict.fromkeys(r["convention"] for r in results["law"]))
        if convs:
            fig, axes = plotting.panel_row(len(convs))
            for ax, conv in zip(axes, convs, strict=True):
                for q, style in (("q10", ":"), ("q50", "-"), ("q90", "--")):
                    rows = [r for r in results["law"] if r["convention"] == conv]
                    ns = [r["n"] for r in rows]
                    v = [r[q]["value"] for r in rows]
                    lo = [r[q]["ci95"][0] for r in rows]
                    hi = [r[q]["ci95"][1] for r in rows]
                    ax.errorbar(
                        ns,
                        v,
                        yerr=[np.subtract(v, lo), np.subtract(hi, v)],
                        fmt="o" + style,
                        ms=3,
                        label=f"{q}: conditional",
                    )
                    limit = results["constants"][conv]["limit_quantiles"][q]
                    ax.axhline(limit, color="k", lw=0.6, ls=style)
                    fine = np.geomspace(min(ns), max(ns), 40)
                    qq = int(q[1:]) / 100
                    ax.plot(
                        fine,
                        [
                            limit_law.quantile(
                                lambda s, m=m, c=conv: limit_law.law_cdf(s, int(m), c),
                                qq,
                            )
                            for m in fine
                        ],
                        color="C3",
                        lw=0.8,
                        ls=style,
                    )
                if conv == "paper":
                    for q, mark in (("q10", "v"), ("q50", "s"), ("q90", "^")):
                        pts = [
                            r for r in results.get("engine_law", []) if r[q]["value"]
                        ]
                        ax.plot(
                            [r["n"] for r in pts],
                            [r[q]["value"] for r in pts],
                            mark,
                            color="k",
                            ms=4,
                            label=f"{q}: unit-drawing engine" if q == "q50" else None,
                        )
                ax.set(
                    xscale="log",
                    xlabel="n",
                    ylabel="w* / n^1.5",
                    title=f"{conv}: quantiles vs the limit (black) and finite-n law (red)",
                )
                ax.legend(fontsize=6)
            figs["threshold_1d_law.png"] = fig
            fig, axes = plotting.panel_row(len(convs))
            for ax, conv in zip(axes, convs, strict=True):
                for r in [r for r in results["law"] if r["convention"] == conv]:
                    ax.plot(
                        t,
                        arrays[f"law_{conv}_{r['n']}"].mean(0),
                        lw=0.8,
                        label=f"n={r['n']}",
                    )
                ax.plot(
                    t, limit_law.frechet_cdf(t, conv), "k--", lw=1, label="exp(-K/t^2)"
                )
                ax.set(
                    xscale="log",
                    xlabel="t = width / n^1.5",
                    ylabel="P(w* <= t n^1.5)",
                    title=conv,
                )
                ax.legend(fontsize=6)
            figs["threshold_1d_cdf.png"] = fig
        if results["panel"]:
            fig, ax = plt.subplots(figsize=(5, 4), constrained_layout=True)
            for c in results["panel"]:
                ax.plot(
                    [g["d1"] for g in c["grid"]],
                    [g["p"] for g in c["grid"]],
                    "-o",
                    ms=2,
                    label=f"n={c['n']}",
                )
            ax.set(
                xlabel="d1",
                ylabel="P(full rank)",
                title="Figure 4, d0 = 1, conditional on data",
            )
            ax.legend(fontsize=6, ncol=2)
            figs["threshold_1d_panel.png"] = fig
    return figs


def report(results: dict) -> str:
    lines = []
    for conv, c in results["constants"].items():
        lines.append(
            f"{conv}: K = {c['K']:.4f}, limit median {c['limit_quantiles']['q50']:.3f}"
        )
    for r in results["law"]:
        lines.append(
            f"law {r['convention']} n={r['n']}: median w*/n^1.5 {r['q50']['value']:.3f} "
            f"[{r['q50']['ci95'][0]:.3f}, {r['q50']['ci95'][1]:.3f}], KS to Frechet "
            f"{r['ks_frechet']:.3f}, to finite-n law {r['ks_finite_n']:.3f}"
        )
    if results["engine"]["cells"]:
        lines.append(
            f"engine check: {results['engine']['criterion']}: "
            f"agrees = {results['engine']['agrees']}"
        )
    return "\n".join(lines)


def law(*, out=None, progress: bool = False, **config) -> runtime.Result:
    """The d0 = 1 threshold law in one call. Keyword arguments are ``Config``'s fields.

    Example:
      >>> from jaxnet.experiments import threshold_1d
      >>> res = threshold_1d.law(conventions=["paper"], law_n=[100, 1000], law_data=20,
      ...                        panel_n=[10], panel_data=200, exact_check=5,
      ...                        engine_n=[20], engine_trials=100, engine_law_n=[300],
      ...                        engine_law_trials=20, bootstrap=50)
      >>> round(res.results["constants"]["paper"]["K"], 4)
      1.8138
      >>> sorted(res.plot())
      ['threshold_1d_cdf.png', 'threshold_1d_law.png', 'threshold_1d_panel.png']
    """
    return runtime.run(
        sys.modules[__name__],
        Config(**config),
        runtime.Options(out=out, progress=progress),
    )
