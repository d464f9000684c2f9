"""The Figures 5/6 engine: do sampled activation regions contain a zero-loss global
minimum? (Theorem 11)

An *instance* is (X, A, v, y) for one cell (d0, n, d1) and one trial index:

- X: n iid N(0, I_{d0}) points, with a 1 appended (bias); sorted when d0 = 1.
- A: for d0 = 1, each row uniform over the 2n step vectors, i.e. a region drawn
  uniformly from the non-empty ones (Lemma 8); for d0 > 1, the pattern of a W with iid
  N(0, 1) entries (the region of a random initialization, as the public reference code
  draws it; non-empty by construction).
- v: ⌈d1/2⌉ entries +1 and ⌊d1/2⌋ entries −1 (Theorem 11's d+ and d−), fixed.
- y: ``random``: iid N(0, 1) (the slides); ``teacher``: y = F*(X) for a random teacher
  network of width ``teacher_width`` with iid N(0, 1) weights, biases and output weights.

The question: ∃ W ∈ S_X^A (the open region) with F(W, X) = y. Decided by a margin LP
with free weights (``jaxnet.regions.lp``): for d0 = 1 through the cones' extreme rays after
merging duplicate units, with a rank shortcut; for d0 > 1 by the full program after
merging duplicate units. On a shared random subset, every decision is re-made by the
plain full program (HiGHS, one variable per weight, no merging) and the agreement is
counted.

Randomness: instance (cell, t) is drawn from the generator of its JAX trial key
(``runtime.host_rng``), so results do not depend on worker count, order or resumption.
The reference subset is a permutation drawn from the base key.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from jaxnet import regions, runtime, stats
from jaxnet.regions import lp
from jaxnet.runtime import config

TARGETS = ("random", "teacher")
FIG5_GRID = {"n": list(range(10, 101, 10)), "d1": list(range(100, 1001, 100))}
FIG6_GRID = {"n": list(range(5, 31, 5)), "d1": list(range(10, 111, 20))}

# Codes of how a decision was made, per instance.
BY_SPAN, BY_CONE_LP, BY_FULL_LP = 0, 1, 2
METHOD_NAMES = ("span", "cone_lp", "full_lp")


def cell_seed(d0: int, n: int, d1: int, targets: str) -> int:
    return runtime.cell_seed("global_minima", d0, n, d1, targets)


def instance(
    rng: np.random.Generator, cell: tuple, targets: str, teacher_width: int = 5
):
    """``(x, xt, pattern, v, y)`` of one instance of ``cell = (d0, n, d1)``, drawn from
    ``rng``."""
    d0, n, d1 = cell[:3]
    x = rng.standard_normal((n, d0))
    if d0 == 1:
        x = np.sort(x, axis=0)
    xt = np.concatenate([x, np.ones((n, 1))], axis=1)
    if d0 == 1:
        pattern = regions.sample_steps(rng, d1, n)
    else:
        pattern = regions.sample_from_init(rng, xt, d1)
    v = np.where(np.arange(d1) < (d1 + 1) // 2, 1.0, -1.0)
    if targets == "random":
        y = rng.standard_normal(n)
    else:
        w_t = rng.standard_normal((teacher_width, d0 + 1))
        v_t = rng.standard_normal(teacher_width)
        y = np.maximum(xt @ w_t.T, 0.0) @ v_t
    return x, xt, pattern, v, y


def decide(x, xt, pattern, v, y, *, tol=lp.DEFAULT_TOL):
    """The fast decision: ``(LPResult, method code)``."""
    if xt.shape[1] == 2:
        res = lp.global_min_1d(x[:, 0], pattern, v, y, tol=tol)
        return res, (BY_SPAN if res.method == "span" else BY_CONE_LP)
    pat, sign = lp.merge_units(pattern, v)
    return lp.global_min_margin(xt, pat, sign, y, tol=tol), BY_FULL_LP


def reference(xt, pattern, v, y, *, tol=lp.DEFAULT_TOL) -> lp.LPResult:
    """The plain full program (HiGHS), nothing merged: the reference decisions."""
    return lp.global_min_margin(xt, pattern, v, y, tol=tol)


def trial(rng, cell, t, *, targets, teacher_width, tol):
    """One instance (host side): the fast decision and, for the trials of the cell's
    reference subset (``cell[3]``), the plain full program's."""
    x, xt, pattern, v, y = instance(rng, cell, targets, teacher_width)
    res, method = decide(x, xt, pattern, v, y, tol=tol)
    ref = reference(xt, pattern, v, y, tol=tol).status if t in cell[3] else -2
    return {
        "status": np.int8(res.status),
        "margin": float(res.margin),
        "borderline": bool(res.borderline),
        "method": np.int8(method),
        "reference": np.int8(ref),
    }


def reference_subset(key, n_cells: int, n_trials: int, size: int) -> np.ndarray:
    """``(n_cells, n_trials)`` bool: a random subset of ``size`` instances (from
    ``key``)."""
    import jax

    mask = np.zeros(n_cells * n_trials, bool)
    pick = np.asarray(
        jax.random.permutation(jax.random.fold_in(key, 0x5EED), mask.size)
    )[:size]
    mask[pick] = True
    return mask.reshape(n_cells, n_trials)


def summarize(cells, status, borderline, method, ref) -> list[dict]:
    """Per-cell counts: yes, no, failed, borderline, p = yes/decided with Wilson CI."""
    out = []
    for c, (d0, n, d1) in enumerate(cells):
        yes = int((status[c] == lp.YES).sum())
        no = int((status[c] == lp.NO).sum())
        decided = yes + no
        lo, hi = stats.wilson_interval(yes, decided) if decided else (np.nan, np.nan)
        checked = ref[c] != -2
        out.append(
            {
                "panel": f"d0={d0}",
                "d0": d0,
                "n": n,
                "d1": d1,
                "regions": int(status.shape[1]),
                "yes": yes,
                "no": no,
                "failed": int((status[c] == lp.FAILED).sum()),
                "borderline": int(borderline[c].sum()),
                "p": yes / decided if decided else float("nan"),
                "p_ci95": [float(lo), float(hi)],
                "decided_by": {
                    name: int((method[c] == i).sum())
                    for i, name in enumerate(METHOD_NAMES)
                },
                "reference_checked": int(checked.sum()),
                "reference_agree": int((ref[c][checked] == status[c][checked]).sum()),
            }
        )
    return out


@dataclasses.dataclass(frozen=True)
class Config:
    """Figures 5 (d0 = 1) and 6 (d0 > 1): ``regions`` sampled regions per cell (d0, n,
    d1); empty ``n``/``d1`` take the figure's grid."""

    d0: tuple[int, ...] = config.field(
        (1,), help="input dimensions (1: Figure 5; 2 5: Figure 6)", check=config.ints()
    )
    n: tuple[int, ...] = config.axis("data-set sizes (default: the figure's grid)")
    d1: tuple[int, ...] = config.axis("hidden widths (default: the figure's grid)")
    regions: int = config.field(
        100, help="sampled regions per cell", check=config.count()
    )
    targets: str = config.field(
        "random",
        choices=TARGETS,
        help="labels: iid N(0, 1) or a random teacher network's",
    )
    teacher_width: int = config.field(
        5, help="width of the teacher (--targets teacher)", check=config.count()
    )
    seed: int = config.seed()
    tol: float = config.field(
        lp.DEFAULT_TOL,
        help="yes iff the LP margin t* > tol; |t*| <= tol is counted borderline",
        check=config.OPEN_FRACTION,
    )
    check_reference: int = config.field(
        100,
        help="instances also decided by the plain full HiGHS program",
        check=config.count(0),
    )

    def __post_init__(self):
        config.freeze(self)

    def cells(self) -> list[tuple[int, int, int]]:
        out = []
        for d0 in self.d0:
            g = FIG5_GRID if d0 == 1 else FIG6_GRID
            out += [
                (d0, n, d1) for n in (self.n or g["n"]) for d1 in (self.d1 or g["d1"])
            ]
        return out


def run_config(ctx: runtime.Context, cfg: Config) -> tuple[dict, dict]:
    """``run`` of every cell of ``cfg`` (what the ``global_minima`` experiment runs)."""
    return run(
        ctx,
        cfg.cells(),
        cfg.regions,
        targets=cfg.targets,
        teacher_width=cfg.teacher_width,
        tol=cfg.tol,
        check_reference=cfg.check_reference,
    )


def run(
    ctx: runtime.Context,
    cells: list,
    regions_per_cell: int,
    *,
    targets: str,
    teacher_width: int,
    tol: float,
    check_reference: int,
) -> tuple[dict, dict]:
    """Every cell ``(d0, n, d1)``, ``regions_per_cell`` instances each, as one host part
    of ``ctx``: ``(per-cell summary and reference check, per-instance arrays)``."""
    check = reference_subset(
        ctx.base_key, len(cells), regions_per_cell, check_reference
    )
    tasks = [
        (*cell, frozenset(np.flatnonzero(check[c]).tolist()))
        for c, cell in enumerate(cells)
    ]
    seeds = [cell_seed(*cell, targets) for cell in cells]
    out = ctx.host(
        trial,
        tasks,
        seeds,
        regions_per_cell,
        desc="global minima",
        static={"targets": targets, "teacher_width": teacher_width, "tol": tol},
        cost=lambda cell: cell[0] * cell[1] * cell[2],
    )
    summary = summarize(
        cells, out["status"], out["borderline"], out["method"], out["reference"]
    )
    checked = out["reference"] != -2
    agree = int((out["reference"][checked] == out["status"][checked]).sum())
    arrays = {
        k: out[k] for k in ("status", "margin", "borderline", "method", "reference")
    }
    return {
        "reference_check": {"checked": int(checked.sum()), "agree": agree},
        "cells": summary,
    }, arrays
