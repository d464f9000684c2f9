"""Figures 5 and 6: do sampled activation regions contain a zero-loss global minimum?

The slides' Theorem 11 and Figures 5 (d0 = 1) and 6 (d0 > 1). The instances, the
decision and its reference check are the engine's (``jaxnet.regions.minima``); this
module is the experiment: config, compute, plot, report and the notebook call.
"""

from __future__ import annotations

import sys

from jaxnet import runtime
from jaxnet.rank import theory
from jaxnet.regions import minima
from jaxnet.regions.minima import (  # noqa: F401  (the engine's names, re-exported)
    BY_CONE_LP,
    BY_FULL_LP,
    BY_SPAN,
    FIG5_GRID,
    FIG6_GRID,
    METHOD_NAMES,
    TARGETS,
    Config,
    cell_seed,
    decide,
    instance,
    reference,
    reference_subset,
    summarize,
    trial,
)

# ---------------------------------------------------------------------------
# The experiment protocol.

SPEC = runtime.Spec(
    "global_minima",
    "slides (Karhadkar, Murray, Tseran, Montufar), Theorem 11, Figures 5 and 6",
    arrays="instances.npz",
    options=runtime.HOST_OPTIONS,
    x64=False,
)


def compute(cfg: Config, ctx: runtime.Context):
    found, arrays = minima.run_config(ctx, cfg)
    body = {
        "decision": "yes iff max t s.t. s_ij <w_i, x~_j> >= t (open region), "
        "sum_i v_i A_ij <w_i, x~_j> = y_j, t <= 1 has t* > tol; "
        "solver failures are counted apart, never as no",
        "theorem11_width": f"d1 = 2 * {theory.THEOREM11_CONSTANT} n log(n/eps) "
        "(constant chosen by us; the slides give Omega only)",
        "reference_check": found["reference_check"],
        "metadata": {"workers": ctx.options.workers},
        "cells": found["cells"],
    }
    return body, arrays


def plot(results: dict, arrays: dict) -> dict:
    from jaxnet import plotting

    eps = 0.5
    cfg = results["config"]
    curves = {
        "d0=1": (f"Thm 11 width, eps={eps}", lambda n: theory.theorem11_width(n, eps))
    }
    return {
        "global_minima.png": plotting.proportion_heatmaps(
            results["cells"],
            title=f"regions with a global minimum ({cfg['targets']} "
            f"targets, {cfg['regions']} regions/cell)",
            label="P(region contains a global min)",
            curves=curves,
        )
    }


def report(results: dict) -> str:
    cells = results["cells"]
    rc = results["reference_check"]
    return (
        f"{runtime.report_head(results, 'regions')}; failed "
        f"{sum(c['failed'] for c in cells)}, borderline "
        f"{sum(c['borderline'] for c in cells)}; agreement with the full HiGHS "
        f"program: {rc['agree']}/{rc['checked']}"
    )


def probability(
    *, out=None, progress: bool = False, workers: int = 0, **config
) -> runtime.Result:
    """Figures 5/6 in one call: the fraction of sampled regions holding a global
    minimum per cell. Keyword arguments are ``Config``'s fields.

    Example:
      >>> from jaxnet.experiments import global_minima
      >>> res = global_minima.probability(d0=[1], n=[10], d1=[20, 100], regions=10,
      ...                                 check_reference=0, workers=1)
      >>> res.column("p").tolist(), sorted(res.plot())
      ([0.5, 1.0], ['global_minima.png'])
    """
    return runtime.run(
        sys.modules[__name__],
        Config(**config),
        runtime.Options(out=out, progress=progress, workers=workers),
    )
