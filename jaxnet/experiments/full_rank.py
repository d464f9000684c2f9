"""Figure 4 of the slides: P(rank ∇_θF(θ, X) = n) at a random initialization.

The experiment (config, compute, plot, report, the notebook call ``probability``) on
the Figure-4 engine ``jaxnet.rank.fig4`` (sampling, Gram certificates, host
refinement, exact ranks, program planning: see its docstring for the rank rule, the
conventions and the trial layout); ``--rank-rule exact`` takes each trial's exact
minimal full-rank width from ``jaxnet.rank.wstar`` instead.
"""

from __future__ import annotations

import dataclasses
import math
import sys
import time

from jaxnet import nets, runtime, stats
from jaxnet.rank import wstar
from jaxnet.rank.fig4 import (  # noqa: F401  (the engine's names, re-exported)
    CACHE_BYTES,
    FIG4_D0,
    FIG4_RATIOS,
    PEER_D0_GRID,
    PEER_RATIO_GRID,
    Bucket,
    Columns,
    Grid,
    Setup,
    cell_counts,
    column_mask,
    column_seed,
    device_fn,
    exact_rank_fns,
    gram_residues,
    grid_columns,
    grid_seeds,
    integer_data,
    jacobian_fn,
    make_grid,
    make_refine,
    plan_buckets,
    ratio_d0,
    run_grid,
    sample_trial,
    sample_units,
    summarize,
)
from jaxnet.runtime import config

RANK_RULES = ("float", "exact")


# ---------------------------------------------------------------------------
# The experiment protocol (``jaxnet.runtime``): config, compute, plot, report.

SPEC = runtime.Spec(
    "full_rank",
    "slides (Karhadkar, Murray, Tseran, Montufar), Figure 4",
    arrays="trials.npz",
    options=(
        "out",
        "progress",
        "checkpoint_every",
        "stall_timeout",
        "coordinator",
        "num_processes",
        "process_id",
    ),
)


@dataclasses.dataclass(frozen=True)
class Config:
    """Figure 4: every (panel, n, d1) cell, ``trials`` trials each.

    ``d0`` gives fixed-input-dimension panels and ``ratio`` panels with d0 =
    ⌈ratio·n⌉; with neither, d0 = (1, 2, 3, 5). Empty ``n``/``d1`` take the reference
    code's grid of the family. Empty ``rank_dtype`` and ``rtol = None`` take the
    convention's rule (module docstring).
    """

    convention: str = config.field(
        "paper", choices=nets.CONVENTIONS, help="sampling, Jacobian and rank rule"
    )
    d0: tuple[int, ...] = config.axis(
        "fixed input dimensions (Figure 4, "
        "first panel; default 1 2 3 5 without --ratio)"
    )
    ratio: tuple[float, ...] = config.field(
        (),
        help="d0 = ceil(ratio*n) (Figure 4, second panel)",
        check=config.reals(low=0, low_open=True, allow_empty=True),
    )
    n: tuple[int, ...] = config.axis(
        "data-set sizes (default: the reference code's grid)"
    )
    d1: tuple[int, ...] = config.axis(
        "hidden widths (default: the reference code's grid)"
    )
    trials: int = config.field(100, help="trials per cell", check=config.count())
    seed: int = config.seed()
    chunk: int = config.chunk(
        64,
        help="at most this many column trials evaluated at "
        "once per device (bounds memory; a bucket whose Gram "
        "matrices would not fit 8 MiB uses fewer, recorded in "
        "results.json)",
    )
    rank_dtype: str = config.field(
        "",
        choices=("float32", "float64"),
        help="rank rule eps: float64 (paper default) or float32 (peer default)",
    )
    rtol: float | None = config.field(
        None,
        help="relative tolerance s_n > rtol*s_1 (default max(n,P)*eps)",
        check=config.OPEN_FRACTION,
    )
    beta: float = config.field(
        2.0,
        help="certification margin: certified decisions "
        "hold for tolerances in [rtol/beta, rtol*beta]",
        check=config.real(low=math.sqrt(2)),
    )
    max_buckets: int = config.field(
        8,
        help="at most this many compiled programs per "
        "panel family (cells grouped by size)",
        check=config.count(),
    )
    exact_check: int = config.field(
        0,
        help="cross-check the first K trials of every "
        "cell against their exact generic rank (no "
        "tolerance)",
        check=config.count(0),
    )
    rank_rule: str = config.field(
        "float",
        choices=RANK_RULES,
        help="float: the SVD "
        "rule above; exact: each trial's exact minimal "
        "full-rank width w*, every d1 from one draw (paper "
        "convention; jaxnet.rank.min_width)",
    )

    def __post_init__(self):
        config.freeze(self)
        if not self.d0 and not self.ratio:
            object.__setattr__(self, "d0", FIG4_D0)
        if self.rank_rule == "exact" and (
            self.convention != "paper" or self.exact_check
        ):
            raise ValueError(
                "rank_rule exact needs convention paper and no exact_check "
                f"(it is exact); got convention {self.convention!r}, "
                f"exact_check {self.exact_check}"
            )

    @property
    def rule_dtype(self) -> str:
        return self.rank_dtype or nets.get_convention(self.convention).rank_dtype

    def families(self):
        """``(name, d0 values, ratios, n values, d1 values)`` per panel family."""
        out = []
        if self.d0:
            g = PEER_D0_GRID
            out.append(("d0", self.d0, (), self.n or g["n"], self.d1 or g["d1"]))
        if self.ratio:
            g = PEER_RATIO_GRID
            out.append(("ratio", (), self.ratio, self.n or g["n"], self.d1 or g["d1"]))
        return out


def _exact_cells(cfg: Config, ctx: runtime.Context, grid: Grid, family: str):
    """``--rank-rule exact``: each column trial's w* (``jaxnet.rank.wstar``, the same
    trials as the float rule's), then every cell's count of w* <= d1."""
    cap = int(grid.d1.max())
    cols = list(
        dict.fromkeys(
            zip(grid.panel.tolist(), grid.n.tolist(), grid.d0.tolist(), strict=True)
        )
    )
    w_star, ok, _ = wstar.run_w_star(
        ctx, [(*c, cap) for c in cols], cfg.trials, chunk=cfg.chunk
    )
    if not ok.all():
        raise RuntimeError(f"{int((~ok).sum())} trials' cuts could not be verified")
    cells = []
    for c in range(len(grid.n)):
        col = cols.index((str(grid.panel[c]), int(grid.n[c]), int(grid.d0[c])))
        k = int((w_star[col] <= grid.d1[c]).sum())
        lo, hi = stats.wilson_interval(k, cfg.trials)
        cells.append(
            {
                **grid.cell(c),
                "rtol": None,
                "trials": cfg.trials,
                "full_rank": k,
                "p": k / cfg.trials,
                "p_ci95": [float(lo), float(hi)],
                "decided_by": {"exact": cfg.trials},
                "host_refined": 0,
                "svd_refined": 0,
                "near_threshold": 0,
            }
        )
    return cells, w_star


def compute(cfg: Config, ctx: runtime.Context):
    """Every family of ``cfg``: ``(results body, arrays)``."""
    cells, arrays, timings = [], {}, {}
    for name, d0s, ratios, ns, d1s in cfg.families():
        grid = make_grid(
            cfg.convention,
            d0_values=d0s,
            ratios=ratios,
            n_values=ns,
            d1_values=d1s,
            rank_dtype=cfg.rule_dtype,
            rtol=cfg.rtol or None,
        )
        t1 = time.perf_counter()
        if cfg.rank_rule == "exact":
            fam_cells, w_star = _exact_cells(cfg, ctx, grid, name)
            cells += fam_cells
            arrays[f"{name}_w_star"] = w_star
            timings[name] = {"seconds": time.perf_counter() - t1}
            continue
        res = run_grid(
            cfg.convention,
            grid,
            cfg.trials,
            ctx=ctx,
            family=name,
            chunk=cfg.chunk,
            rank_dtype=cfg.rule_dtype,
            beta=cfg.beta,
            max_buckets=cfg.max_buckets,
            exact_trials=cfg.exact_check,
        )
        timings[name] = {"seconds": time.perf_counter() - t1, "buckets": res["buckets"]}
        cells += summarize(
            grid, res["code"], res["s_ratio"], cfg.beta, res.get("exact_rank")
        )
        if "exact_rank" in res:
            arrays[f"{name}_exact_rank"] = res["exact_rank"]
        for field in ("code", "s_ratio", "svd_rank"):
            arrays[f"{name}_{field}"] = res[field]
    body = {
        "config": {
            "rank_dtype": cfg.rule_dtype,
            "rtol": cfg.rtol or "max(n, P) * eps(rank_dtype)",
        },
        "parameterization": {
            "network": "F(x) = sum_i v_i relu(<w_i, x> + b_i)",
            "paper": "x~N(0,I), w,b,v~N(0,1); J wrt W=[w|b]: n x d1(d0+1)",
            "peer": "x~U[0,1]^d0, w,b~U(-1/sqrt(d0),1/sqrt(d0)), v~N(0,1) frozen; "
            "J wrt (b,v,w): n x (d1 d0 + 2 d1)",
        },
        "rank_rule": "exact: full rank iff the trial's minimal full-rank width w* <= d1 "
        "(jaxnet.threshold)"
        if cfg.rank_rule == "exact"
        else "full rank iff s_n(J) > rtol * s_1(J); Gram/Cholesky certificates "
        "with margin beta, the rest decided by numpy SVD of J",
        "metadata": {"sweep_seconds": timings},
        "cells": cells,
    }
    return body, arrays


def plot(results: dict, arrays: dict) -> dict:
    """One heatmap figure per panel family: ``full_rank_<family>.png``."""
    from jaxnet import plotting

    cfg = results["config"]
    figs = {}
    for family in ("d0", "ratio"):
        sub = [c for c in results["cells"] if c["panel"].startswith(family + "=")]
        if sub:
            figs[f"full_rank_{family}.png"] = plotting.full_rank_heatmaps(
                sub,
                title=f"{cfg['convention']} convention, {cfg['rank_dtype']} rank "
                f"rule, {cfg['trials']} trials/cell",
            )
    return figs


def report(results: dict) -> str:
    cells = results["cells"]
    line = (
        f"{runtime.report_head(results)}; re-decided on the host: "
        f"{sum(c['host_refined'] for c in cells)} "
        f"({sum(c['svd_refined'] for c in cells)} by SVD), near threshold: "
        f"{sum(c['near_threshold'] for c in cells)}"
    )
    ex = [c["exact"] for c in cells if "exact" in c]
    if ex:
        line += (
            f"\nexact generic rank of {sum(e['checked'] for e in ex)} trials: float "
            f"full but exactly deficient "
            f"{sum(e['float_full_exact_deficient'] for e in ex)}; float deficient "
            f"but exactly full (s_n <= rtol*s_1 while J is nonsingular) "
            f"{sum(e['float_deficient_exact_full'] for e in ex)} in "
            f"{sum(e['float_deficient_exact_full'] > 0 for e in ex)} cells"
        )
    return line


def probability(*, out=None, progress: bool = False, **config) -> runtime.Result:
    """Figure 4 in one call: P(full rank) for every cell.

    Keyword arguments are ``Config``'s fields (lists and ranges welcome); ``out``
    (optional) is a directory to write ``results.json``, ``trials.npz`` and the
    heatmaps into.

    Example:
      >>> from jaxnet.experiments import full_rank
      >>> res = full_rank.probability(d0=[1], n=[10, 20], d1=[30, 60], trials=50)
      >>> res.column("p").round(2).tolist()  # one entry per cell, in res.cells order
      [0.58, 0.82, 0.0, 0.26]
      >>> sorted(res.plot())
      ['full_rank_d0.png']
    """
    return runtime.run(
        sys.modules[__name__],
        Config(**config),
        runtime.Options(out=out, progress=progress),
    )
