"""Figures 5 and 6: do sampled activation regions contain a zero-loss global minimum?

The slides' Theorem 11 and Figures 5 (d0 = 1) and 6 (d0 > 1). The instances, the
decision and its reference check are the engine's (``jaxnet.region_minima``); this
module is the experiment: config, compute, plot, report and the notebook call.
"""

from __future__ import annotations

import dataclasses
import sys

from jaxnet import config, lp, region_minima, runner, theory
from jaxnet.region_minima import (  # noqa: F401  (the engine's names, re-exported)
    BY_CONE_LP, BY_FULL_LP, BY_SPAN, METHOD_NAMES, TARGETS, cell_seed, decide, instance,
    reference, reference_subset, summarize, trial)

FIG5_GRID = {"n": list(range(10, 101, 10)), "d1": list(range(100, 1001, 100))}
FIG6_GRID = {"n": list(range(5, 31, 5)), "d1": list(range(10, 111, 20))}


# ---------------------------------------------------------------------------
# The experiment protocol.

SPEC = runner.Spec("global_minima",
                   "slides (Karhadkar, Murray, Tseran, Montufar), Theorem 11, Figures 5 and 6",
                   arrays="instances.npz", options=runner.HOST_OPTIONS, x64=False)


@dataclasses.dataclass(frozen=True)
class Config:
    """Figures 5 (d0 = 1) and 6 (d0 > 1): ``regions`` sampled regions per cell (d0, n,
    d1); empty ``n``/``d1`` take the figure's grid."""

    d0: tuple[int, ...] = config.field((1,), help="input dimensions (1: Figure 5; 2 5: "
                                       "Figure 6)", check=config.ints())
    n: tuple[int, ...] = config.field((), help="data-set sizes (default: the figure's "
                                      "grid)", check=config.ints(allow_empty=True))
    d1: tuple[int, ...] = config.field((), help="hidden widths (default: the figure's "
                                       "grid)", check=config.ints(allow_empty=True))
    regions: int = config.field(100, help="sampled regions per cell",
                                check=config.count())
    targets: str = config.field("random", choices=TARGETS, help="labels: iid N(0, 1) or "
                                "a random teacher network's")
    teacher_width: int = config.field(5, help="width of the teacher (--targets "
                                      "teacher)", check=config.count())
    seed: int = config.field(0, help="base PRNG seed", check=config.SEED)
    tol: float = config.field(lp.DEFAULT_TOL, help="yes iff the LP margin t* > tol; "
                              "|t*| <= tol is counted borderline",
                              check=config.OPEN_FRACTION)
    check_reference: int = config.field(100, help="instances also decided by the plain "
                                        "full HiGHS program", check=config.count(0))

    def __post_init__(self):
        config.freeze(self)

    def cells(self) -> list[tuple[int, int, int]]:
        out = []
        for d0 in self.d0:
            g = FIG5_GRID if d0 == 1 else FIG6_GRID
            out += [(d0, n, d1) for n in (self.n or g["n"]) for d1 in (self.d1 or g["d1"])]
        return out


def compute(cfg: Config, ctx: runner.Context):
    found, arrays = region_minima.run(
        ctx, cfg.cells(), cfg.regions, targets=cfg.targets,
        teacher_width=cfg.teacher_width, tol=cfg.tol, check_reference=cfg.check_reference)
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
    curves = {"d0=1": (f"Thm 11 width, eps={eps}",
                       lambda n: theory.theorem11_width(n, eps))}
    return {"global_minima.png": plotting.proportion_heatmaps(
        results["cells"], title=f"regions with a global minimum ({cfg['targets']} "
                                f"targets, {cfg['regions']} regions/cell)",
        label="P(region contains a global min)", curves=curves)}


def report(results: dict) -> str:
    cells = results["cells"]
    rc = results["reference_check"]
    return (f"{len(cells)} cells, {sum(c['regions'] for c in cells)} regions, "
            f"{results['metadata']['wall_time_s']:.1f} s; failed "
            f"{sum(c['failed'] for c in cells)}, borderline "
            f"{sum(c['borderline'] for c in cells)}; agreement with the full HiGHS "
            f"program: {rc['agree']}/{rc['checked']}")


def probability(*, out=None, progress: bool = False, workers: int = 0,
                **config) -> runner.Result:
    """Figures 5/6 in one call: the fraction of sampled regions holding a global
    minimum per cell. Keyword arguments are ``Config``'s fields.

    Example:
      >>> from jaxnet.experiments import global_minima
      >>> res = global_minima.probability(d0=[1], n=[10, 20], d1=[100, 200],
      ...                                 regions=20)
      >>> res.column("p"), res.plot()
    """
    return runner.run(sys.modules[__name__], Config(**config),
                      runner.Options(out=out, progress=progress, workers=workers))
