"""Recovery of the teacher by the exact minimum-norm interpolant: the report's Theorem 5.2
and its conjecture for d > 2.

For each cell (teacher family, m0, d, N) and instance: N inputs uniform on S^{d−1},
labels from the teacher (``jaxnet.teacher_student.teachers``), the exact minimum-norm
interpolant (``jaxnet.teacher_student.minnorm``, cvxpy + Clarabel); recovered iff its
RMS distance to the teacher on the sphere is < ``tol``. In d = 2: whether every teacher
sector holds ≥ 3 points (Theorem 5.2's hypothesis), its exact probability and the
report's bound (eq. 12).
Instances are drawn from their trial keys (``runtime.host_rng``) on a process pool.
"""

from __future__ import annotations

import dataclasses
import sys
import warnings

import numpy as np

from jaxnet import runtime, stats
from jaxnet.rank import theory
from jaxnet.runtime import config
from jaxnet.teacher_student import measures, minnorm, teachers

SPEC = runtime.Spec(
    "minnorm_phase",
    "report (Song & Lee), Theorem 5.2 and its conjecture for d > 2",
    arrays="instances.npz",
    options=runtime.HOST_OPTIONS,
    x64=False,
)


@dataclasses.dataclass(frozen=True)
class Config:
    """Every (teacher family, m0, d, N) cell, ``instances`` exact solves each."""

    teachers: tuple[str, ...] = config.field(
        ("report", "mixed", "random"),
        choices=teachers.TEACHERS,
        help="teacher families",
    )
    m0: tuple[int, ...] = config.field((3,), help="teacher widths", check=config.ints())
    d: tuple[int, ...] = config.field(
        (2,), help="input dimensions", check=config.ints(2)
    )
    N: tuple[int, ...] = config.field(
        tuple(range(4, 61, 2)), help="training-set sizes", check=config.ints()
    )
    instances: int = config.field(200, help="instances per cell", check=config.count())
    tol: float = config.field(
        1e-3,
        help="recovered iff RMS distance to the teacher < tol",
        check=config.OPEN_FRACTION,
    )
    seed: int = config.seed()

    def __post_init__(self):
        config.freeze(self)
        for family in self.teachers:
            missing = [d for d in self.d if not teachers.TEACHERS[family].supports(d)]
            if missing:
                raise ValueError(
                    f"teachers: family {family!r} does not exist in d = {missing[0]} "
                    f"(its dimensions: {teachers.TEACHERS[family].dims})"
                )

    def cells(self):
        return [
            (f, m0, d, n)
            for f in self.teachers
            for m0 in self.m0
            for d in self.d
            for n in self.N
        ]


def recovery_trial(rng, cell, t=0):
    """One instance of the recovery experiment (host side): cell ``(family, m0, d, n)``,
    drawn from ``rng``.

    Returns the exact program's status and ‖θ̂‖², the function distance to the teacher
    (d = 2: quadrature on S¹; d > 2: RMS over 20,000 fresh points of S^{d−1}), whether
    every teacher sector holds ≥ 3 points and that event's exact probability (d = 2;
    NaN otherwise), and whether the pattern set is provably complete.
    """
    family, m0, d, n = cell
    teacher = teachers.make(family, m0, d, rng)
    x = rng.standard_normal((n, d))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    y = measures.evaluate(teacher, x)
    pats = minnorm.sample_patterns(x, rng)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # cvxpy's "solution may be inaccurate"
        sol = minnorm.min_norm_interpolant(x, y, None if d == 2 else pats.patterns)
    hyp, p_hyp = False, float("nan")
    if d == 2:
        hyp = bool(theory.sector_counts(teacher["w"], x).min() >= 3)
        p_hyp = float(
            theory.prob_all_cells_at_least(
                theory.sector_probabilities(teacher["w"]), n, 3
            )
        )
    out = {
        "solved": sol.status == minnorm.OPTIMAL,
        "sq_norm": float("nan"),
        "distance": float("nan"),
        "hypothesis": hyp,
        "p_hypothesis": p_hyp,
        "complete": bool(pats.complete),
    }
    if sol.status != minnorm.OPTIMAL:
        return out
    if d == 2:
        dist = measures.function_distance(sol.params, teacher)
    else:
        z = rng.standard_normal((20_000, d))
        z /= np.linalg.norm(z, axis=1, keepdims=True)
        dist = float(
            np.sqrt(
                np.mean(
                    (measures.evaluate(sol.params, z) - measures.evaluate(teacher, z))
                    ** 2
                )
            )
        )
    return {**out, "sq_norm": float(sol.sq_norm), "distance": dist}


def compute(cfg: Config, ctx: runtime.Context):
    cells = cfg.cells()
    seeds = [runtime.cell_seed("minnorm_phase", *c) for c in cells]
    state = ctx.host(
        recovery_trial,
        cells,
        seeds,
        cfg.instances,
        desc="min-norm recovery",
        cost=lambda c: c[3] * c[2],
    )
    rows = []
    for c, (family, m0, d, n) in enumerate(cells):
        ok = state["solved"][c]
        rec = ok & (state["distance"][c] < cfg.tol)
        k, solved = int(rec.sum()), int(ok.sum())
        lo, hi = stats.wilson_interval(k, solved) if solved else (np.nan, np.nan)
        hyp = ok & state["hypothesis"][c]
        row = {
            "teacher": family,
            "m0": m0,
            "d": d,
            "N": n,
            "instances": cfg.instances,
            "solved": solved,
            "failed": cfg.instances - solved,
            "recovered": k,
            "p_recovered": k / solved if solved else float("nan"),
            "p_ci95": [float(lo), float(hi)],
            "sq_norm_at_recovery_max_dev": float(
                np.nanmax(np.abs(state["sq_norm"][c][rec] - 2 * m0))
            )
            if k
            else None,
            "patterns_complete": int(state["complete"][c].sum()),
        }
        if d == 2:
            row.update(
                {
                    "p_hypothesis_exact": float(np.nanmean(state["p_hypothesis"][c])),
                    "hypothesis_held": int(hyp.sum()),
                    "theorem52_confirmed": int((hyp & rec).sum()),
                    "eq12_bound": theory.sector_bound_eq12(
                        theory.sector_probabilities(teachers.make(family, m0, 2)["w"]),
                        n,
                    )
                    if not teachers.TEACHERS[family].random
                    else None,
                }
            )
        rows.append(row)
    body = {
        "recovery": "RMS over the sphere of f_hat - f_teacher < tol",
        "metadata": {"workers": ctx.options.workers},
        "cells": rows,
    }
    return body, state


def plot(results: dict, arrays: dict) -> dict:
    import matplotlib.pyplot as plt

    from jaxnet import plotting

    rows = results["cells"]
    groups = list(dict.fromkeys((r["teacher"], r["m0"], r["d"]) for r in rows))
    with plt.rc_context(plotting.STYLE):
        fig, ax = plt.subplots(figsize=(6.4, 4.2), constrained_layout=True)
        for i, g in enumerate(groups):
            sub = [r for r in rows if (r["teacher"], r["m0"], r["d"]) == g]
            n = np.array([r["N"] for r in sub])
            p = np.array([r["p_recovered"] for r in sub], float)
            lo = np.array([r["p_ci95"][0] for r in sub], float)
            hi = np.array([r["p_ci95"][1] for r in sub], float)
            label = f"{g[0]}, m0={g[1]}, d={g[2]}"
            ax.errorbar(
                n,
                p,
                yerr=[p - lo, hi - p],
                fmt="o-",
                ms=3,
                lw=1,
                color=f"C{i}",
                label=f"recovery: {label}",
            )
            curves = (
                ("p_hypothesis_exact", "--", "P(>=3 points per sector), exact"),
                ("eq12_bound", ":", "report's bound (eq. 12)"),
            )
            for key, style, text in curves if g[2] == 2 else ():
                if sub[0][key] is not None:
                    ys = [r[key] for r in sub]
                    ax.plot(n, ys, style, color=f"C{i}", lw=1, label=text)
        ax.set_xlabel("N (training points)")
        ax.set_ylabel("probability")
        ax.set_ylim(-0.02, 1.02)
        ax.set_title("exact minimum-norm interpolant = teacher?")
        ax.legend(fontsize=6)
    return {"phase.png": fig}


def report(results: dict) -> str:
    rows = results["cells"]
    return (
        f"{runtime.report_head(results, 'instances')}; failed "
        f"{sum(r['failed'] for r in rows)}; Theorem 5.2 confirmed on "
        f"{sum(r.get('theorem52_confirmed', 0) for r in rows)}/"
        f"{sum(r.get('hypothesis_held', 0) for r in rows)} instances meeting its "
        "hypothesis"
    )


def recovery(
    *, out=None, progress: bool = False, workers: int = 0, **config
) -> runtime.Result:
    """The phase diagram in one call. Keyword arguments are ``Config``'s fields.

    Example:
      >>> from jaxnet.experiments import minnorm_phase
      >>> res = minnorm_phase.recovery(teachers=["report"], N=[10, 20], instances=5,
      ...                              workers=1)
      >>> res.column("p_recovered").tolist()
      [0.6, 1.0]
    """
    return runtime.run(
        sys.modules[__name__],
        Config(**config),
        runtime.Options(out=out, progress=progress, workers=workers),
    )
