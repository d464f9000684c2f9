"""Where a Gaussian initialization lands: regions weighted by their Gaussian measure.

Beyond the documents (the slides' question on the volume of normal cones and parameter
initialization). Figure 5 draws regions uniformly among the non-empty ones; a network
initialized with W iid N(0, 1) lands in region R with probability μ(R) = Π_i μ(C_i),
the product of its units' cone measures (``jaxnet.regions.cones``). Per cell (d0, n, d1), each
trial draws one data set (x iid N(0, I_{d0}), sorted for d0 = 1, a 1 appended), random
targets y iid N(0, 1) and v = (+1 ×⌈d1/2⌉, −1 ×⌊d1/2⌋) as in Figure 5, and on that data:

- ``gauss``: the region of W iid N(0, 1) (``regions.sample_from_init``);
- ``uniform``: each unit's cone uniform over the table of non-empty cones (for d0 = 1
  the 2n step vectors: Figure 5's population);

and decides for both whether the region contains a zero-loss global minimum
(``minima.decide``: margin LPs with HiGHS; failures counted apart). It records
log10 μ(R) of both regions from the exact cone table, and the table's size K and
Σ_C μ(C)² (the mean cone measure a Gaussian unit sees; 1/K for a uniform one).

Estimators: p_gauss = (regions of Gaussian inits with a global min)/(decided), a Monte
Carlo mean over independent initializations and data, with a Wilson 95% interval;
p_uniform likewise; quantiles of log10 μ(R) over trials. The exact tables are checked
against ``cones.mc_measures`` on every ``check_mc``-th trial (``mc_samples`` draws;
count of cones outside their 99.9% Clopper–Pearson interval, whose coverage is at least
99.9% at every measure (Wilson's is not at counts near 0), and of draws missing the
table).
"""

from __future__ import annotations

import dataclasses
import sys

import numpy as np

from jaxnet import regions, runtime, stats
from jaxnet.regions import cones, lp, minima
from jaxnet.runtime import config

GRIDS = {
    1: {"n": (10, 20, 30, 40, 50), "d1": (50, 100, 200, 400)},
    2: {"n": (5, 10, 15, 20, 25, 30), "d1": (10, 30, 50, 70)},
}

SPEC = runtime.Spec(
    "init_regions",
    "beyond the documents: the slides' question on normal-cone volumes and "
    "initialization",
    arrays="instances.npz",
    options=runtime.HOST_OPTIONS,
    x64=False,
)


@dataclasses.dataclass(frozen=True)
class Config:
    """Every (d0, n, d1) cell, ``trials`` data sets each; empty ``n``/``d1`` take
    ``GRIDS``."""

    d0: tuple[int, ...] = config.field(
        (1, 2),
        choices=(1, 2),
        help="input dimensions (exact cone tables exist for 1 and 2)",
    )
    n: tuple[int, ...] = config.axis("data-set sizes (default: per d0)")
    d1: tuple[int, ...] = config.axis("hidden widths (default: per d0)")
    trials: int = config.field(
        100, help="data sets (and initializations) per cell", check=config.count()
    )
    tol: float = config.field(
        lp.DEFAULT_TOL,
        help="LP margin tolerance (Figure 5's)",
        check=config.OPEN_FRACTION,
    )
    check_mc: int = config.field(
        10,
        help="check the cone table by Monte Carlo on every K-th trial (0: never)",
        check=config.count(0),
    )
    mc_samples: int = config.field(
        100000, help="Gaussian draws of that check", check=config.count()
    )
    seed: int = config.seed()

    def __post_init__(self):
        config.freeze(self)

    def cells(self) -> list[tuple[int, int, int]]:
        return [
            (d0, n, d1)
            for d0 in self.d0
            for n in (self.n or GRIDS[d0]["n"])
            for d1 in (self.d1 or GRIDS[d0]["d1"])
        ]


def trial(rng, cell, t, *, tol, check_mc, mc_samples):
    """One data set: both regions' decisions and measures (module docstring)."""
    d0, n, d1 = cell
    x = rng.standard_normal((n, d0))
    if d0 == 1:
        x = np.sort(x, axis=0)
    xt = np.concatenate([x, np.ones((n, 1))], axis=1)
    y = rng.standard_normal(n)
    v = np.where(np.arange(d1) < (d1 + 1) // 2, 1.0, -1.0)
    table, mu = cones.cell_table(xt)
    out = {"n_cones": np.int32(len(mu)), "sum_mu2": float(np.sum(mu**2))}
    draws = {
        "gauss": regions.sample_from_init(rng, xt, d1),
        "uniform": table[rng.integers(0, len(mu), size=d1)],
    }
    for name, pattern in draws.items():
        idx = cones.lookup(table, pattern)
        res, _ = minima.decide(x, xt, pattern, v, y, tol=tol)
        out[f"{name}_status"] = np.int8(res.status)
        out[f"{name}_borderline"] = bool(res.borderline)
        out[f"{name}_log10_mu"] = (
            float(np.sum(np.log10(mu[idx]))) if (idx >= 0).all() else np.nan
        )
    out["mc_outside"], out["mc_missed"] = np.int32(-1), np.int32(-1)
    if check_mc and t % check_mc == 0:
        _, lo, hi, missed = cones.mc_measures(rng, xt, table, mc_samples, level=0.999)
        out["mc_outside"] = np.int32(((mu < lo) | (mu > hi)).sum())
        out["mc_missed"] = np.int32(missed)
    return out


def summarize(cells, out) -> list[dict]:
    rows = []
    for c, (d0, n, d1) in enumerate(cells):
        row = {
            "panel": f"d0={d0}",
            "d0": d0,
            "n": n,
            "d1": d1,
            "trials": int(out["n_cones"].shape[1]),
        }
        for name in ("gauss", "uniform"):
            st = out[f"{name}_status"][c]
            yes, no = int((st == lp.YES).sum()), int((st == lp.NO).sum())
            lo, hi = (
                stats.wilson_interval(yes, yes + no) if yes + no else (np.nan, np.nan)
            )
            lm = out[f"{name}_log10_mu"][c]
            row[name] = {
                "yes": yes,
                "no": no,
                "failed": int((st == lp.FAILED).sum()),
                "borderline": int(out[f"{name}_borderline"][c].sum()),
                "p": yes / (yes + no) if yes + no else float("nan"),
                "p_ci95": [float(lo), float(hi)],
                "log10_mu_quantiles": [
                    float(q) for q in np.nanquantile(lm, [0.1, 0.5, 0.9])
                ],
            }
        row["p"] = row["gauss"]["p"]
        row["p_uniform"] = row["uniform"]["p"]
        k = out["n_cones"][c]
        row["n_cones_mean"] = float(k.mean())
        # mean cone measure under a Gaussian unit (sum mu^2) vs a uniform one (1/K)
        row["gauss_over_uniform_cone_measure"] = float(np.mean(out["sum_mu2"][c] * k))
        chk = out["mc_outside"][c] >= 0
        row["mc_checked"] = int(chk.sum())
        row["mc_outside_999"] = int(out["mc_outside"][c][chk].sum())
        row["mc_cones_checked"] = int(k[chk].sum())
        row["mc_missed"] = int(out["mc_missed"][c][chk].sum())
        rows.append(row)
    return rows


def compute(cfg: Config, ctx: runtime.Context):
    cells = cfg.cells()
    seeds = [runtime.cell_seed("init_regions", *cell) for cell in cells]
    out = ctx.host(
        trial,
        cells,
        seeds,
        cfg.trials,
        desc="init regions",
        static={"tol": cfg.tol, "check_mc": cfg.check_mc, "mc_samples": cfg.mc_samples},
        cost=lambda cell: cell[0] * cell[1] * cell[2],
    )
    body = {
        "populations": {
            "gauss": "the region of W iid N(0,1): probability mu(R)",
            "uniform": "each unit's cone uniform over the non-empty ones "
            "(d0 = 1: Figure 5's step vectors)",
        },
        "estimator": "p = yes/(yes+no) over independent (data, initialization) "
        "trials, Wilson 95% interval; mu(R) = prod_i mu(C_i) from the "
        # results text, kept as computed (jaxnet.cones: now jaxnet.regions.cones)
        "exact cone table (jaxnet.cones)",
        "decision": "global_minima.decide (margin LP, HiGHS); failures apart",
        "metadata": {"workers": ctx.options.workers},
        "cells": summarize(cells, out),
    }
    return body, out


def plot(results: dict, arrays: dict) -> dict:
    import matplotlib.pyplot as plt

    from jaxnet import plotting

    cells = results["cells"]
    panels = list(dict.fromkeys(c["panel"] for c in cells))
    with plt.rc_context(plotting.STYLE):
        fig, axes = plotting.axes_grid(2, len(panels), (4.2 * len(panels), 6.4))
        for j, panel in enumerate(panels):
            sub = [c for c in cells if c["panel"] == panel]
            ax = axes[0, j]
            for d1 in sorted({c["d1"] for c in sub}):
                row = sorted((c for c in sub if c["d1"] == d1), key=lambda c: c["n"])
                ns = [c["n"] for c in row]
                (line,) = ax.plot(
                    ns,
                    [c["p"] for c in row],
                    "o-",
                    ms=3,
                    label=f"$d_1$={d1} Gaussian init",
                )
                ax.fill_between(
                    ns,
                    [c["gauss"]["p_ci95"][0] for c in row],
                    [c["gauss"]["p_ci95"][1] for c in row],
                    color=line.get_color(),
                    alpha=0.15,
                )
                ax.plot(
                    ns,
                    [c["p_uniform"] for c in row],
                    "x--",
                    color=line.get_color(),
                    ms=4,
                    label=f"$d_1$={d1} uniform region",
                )
            ax.set(
                title=panel,
                xlabel="n",
                ylabel="P(region holds a global min)",
                ylim=(-0.02, 1.02),
            )
            ax.legend(fontsize=6)
            ax = axes[1, j]
            idx = [i for i, c in enumerate(results["cells"]) if c["panel"] == panel]
            for name, style in (("gauss", "tab:red"), ("uniform", "tab:blue")):
                per_unit = (
                    arrays[f"{name}_log10_mu"][idx]
                    / np.array([results["cells"][i]["d1"] for i in idx])[:, None]
                )
                ax.hist(
                    per_unit.ravel()[np.isfinite(per_unit.ravel())],
                    bins=40,
                    alpha=0.5,
                    color=style,
                    label=name,
                )
            ax.set(
                xlabel="log10 mu(R) / d1 (mean log cone measure per unit)",
                ylabel="trials",
            )
            ax.legend(fontsize=7)
        fig.suptitle(
            "Gaussian initialization vs uniform non-empty region "
            f"({cells[0]['trials']} trials/cell; bands: Wilson 95%)"
        )
    return {"init_regions.png": fig}


def report(results: dict) -> str:
    cells = results["cells"]
    return (
        f"{runtime.report_head(results)}; failed "
        f"{sum(c['gauss']['failed'] + c['uniform']['failed'] for c in cells)}; "
        f"cone tables vs Monte Carlo: "
        f"{sum(c['mc_outside_999'] for c in cells)} of "
        f"{sum(c['mc_cones_checked'] for c in cells)} cones outside 99.9% "
        f"exact intervals, {sum(c['mc_missed'] for c in cells)} draws missing"
    )


def probability(
    *, out=None, progress: bool = False, workers: int = 0, **config
) -> runtime.Result:
    """The Gaussian-initialization regions in one call. Keyword arguments are
    ``Config``'s fields.

    Example:
      >>> from jaxnet.experiments import init_regions
      >>> res = init_regions.probability(d0=[1], n=[10], d1=[50], trials=10, workers=1)
      >>> res.column("p").tolist(), res.column("p_uniform").tolist()
      ([0.5], [1.0])
    """
    return runtime.run(
        sys.modules[__name__],
        Config(**config),
        runtime.Options(out=out, progress=progress, workers=workers),
    )
