"""Do sampled activation regions contain a global minimum? The slides' Figures 5 and 6.

For every cell (d0, n, d1) and ``--regions`` sampled regions, decides exactly (a margin
LP with free weights on the open region; see ``jaxnet/global_minima.py``) whether the
region holds a W with F(W, X) = y. d0 = 1 samples uniformly among the non-empty regions
(Figure 5, with Theorem 11's width drawn); d0 > 1 samples the region of a random
initialization (Figure 6). A seeded subset of ``--check-reference`` instances is also
decided by the plain full HiGHS program and the agreement is reported.

Writes ``OUT/results.json`` (config, metadata, per-cell counts, p with a Wilson 95%
interval over decided instances, failures and borderline margins counted apart),
``OUT/instances.npz`` (every instance's status, margin and method) and
``OUT/global_minima.png``. Resumes from ``OUT/checkpoint.npz`` after an interruption.

Examples:
  python scripts/global_minima.py --d0 1 --out runs/fig5          # Figure 5 grid
  python scripts/global_minima.py --d0 2 5 --out runs/fig6        # Figure 6 grid
"""

from __future__ import annotations

import os

import _runtime  # noqa: E402  (scripts/ is on sys.path when a script runs)

_runtime.configure()

import argparse  # noqa: E402
import dataclasses
import sys
import time
from pathlib import Path

DESCRIPTION = __doc__.split("\n\n")[0]


@dataclasses.dataclass(frozen=True)
class Config:
    d0: tuple[int, ...] = (1,)
    n: tuple[int, ...] = ()
    d1: tuple[int, ...] = ()
    regions: int = 100
    targets: str = "random"
    teacher_width: int = 5
    seed: int = 0
    tol: float = 1e-7
    check_reference: int = 100
    workers: int = 0
    out: str = "runs/global_minima"
    progress: bool = True


class UsageError(ValueError):
    pass


def parse_args(argv) -> Config:
    p = argparse.ArgumentParser(description=DESCRIPTION)
    p.add_argument("--d0", type=int, nargs="+", default=[1],
                   help="input dimensions (1: Figure 5; 2 5: Figure 6)")
    p.add_argument("--n", type=int, nargs="+", default=None,
                   help="data-set sizes (default: the figure's grid)")
    p.add_argument("--d1", type=int, nargs="+", default=None,
                   help="hidden widths (default: the figure's grid)")
    p.add_argument("--regions", type=int, default=Config.regions,
                   help="sampled regions per cell")
    p.add_argument("--targets", choices=["random", "teacher"], default=Config.targets)
    p.add_argument("--teacher-width", type=int, default=Config.teacher_width)
    p.add_argument("--seed", type=int, default=Config.seed)
    p.add_argument("--tol", type=float, default=Config.tol,
                   help="yes iff the LP margin t* > tol; |t*| <= tol is counted borderline")
    p.add_argument("--check-reference", type=int, default=Config.check_reference,
                   help="instances also decided by the plain full HiGHS program")
    p.add_argument("--workers", type=int, default=Config.workers,
                   help="worker processes (default: one per CPU)")
    p.add_argument("--out", default=Config.out)
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=True)
    a = p.parse_args(argv)
    for name in ("d0", "n", "d1"):
        vals = getattr(a, name)
        if vals is not None and (not vals or min(vals) <= 0):
            raise UsageError(
                f"--{name} must be a non-empty list of positive integers; got {vals}")
    for name in ("regions", "teacher_width"):
        if getattr(a, name) <= 0:
            raise UsageError(f"--{name.replace('_', '-')} must be a positive integer; "
                             f"got {getattr(a, name)}")
    for name in ("check_reference", "workers", "seed"):
        if getattr(a, name) < 0:
            raise UsageError(f"--{name.replace('_', '-')} must be >= 0; "
                             f"got {getattr(a, name)}")
    if not 0 < a.tol < 1:
        raise UsageError(f"--tol must be in (0, 1); got {a.tol}")
    return Config(
        d0=tuple(a.d0), n=tuple(a.n or ()), d1=tuple(a.d1 or ()), regions=a.regions,
        targets=a.targets, teacher_width=a.teacher_width, seed=a.seed, tol=a.tol,
        check_reference=a.check_reference, workers=a.workers, out=a.out,
        progress=a.progress,
    )


def grid_cells(cfg: Config) -> list[tuple[int, int, int]]:
    from jaxnet import global_minima as gm

    cells = []
    for d0 in cfg.d0:
        g = gm.FIG5_GRID if d0 == 1 else gm.FIG6_GRID
        cells += [(d0, n, d1) for n in (cfg.n or g["n"]) for d1 in (cfg.d1 or g["d1"])]
    return cells


def run(cfg: Config) -> dict:
    import numpy as np

    from jaxnet import global_minima as gm
    from jaxnet import io, plotting, sweep, theory

    out_dir = io.check_writable_dir(cfg.out)
    cells = grid_cells(cfg)
    n_cells, n_trials = len(cells), cfg.regions
    check = gm.reference_subset(n_cells, n_trials, cfg.check_reference, cfg.seed)
    fp = io.fingerprint({**dataclasses.asdict(cfg), "workers": None, "progress": None,
                         "out": None})
    ckpt = io.Checkpoint(out_dir / "checkpoint.npz", fp)
    state = ckpt.load()
    if ckpt.note:
        print(ckpt.note, file=sys.stderr)
    if state is None:
        state = {
            "status": np.full((n_cells, n_trials), -9, np.int8),
            "margin": np.full((n_cells, n_trials), np.nan),
            "borderline": np.zeros((n_cells, n_trials), bool),
            "method": np.full((n_cells, n_trials), -1, np.int8),
            "reference": np.full((n_cells, n_trials), -2, np.int8),
            "done": np.zeros((n_cells, n_trials), bool),
        }
    todo = [(c, t, cells[c], cfg.seed, cfg.targets, cfg.teacher_width, cfg.tol,
             bool(check[c, t]))
            for c, t in zip(*np.nonzero(~state["done"]), strict=True)]
    # Expensive cells first, so workers finish together.
    todo.sort(key=lambda u: -u[2][1] * u[2][2] * u[2][0])
    t0 = time.perf_counter()
    workers = cfg.workers or os.cpu_count() or 1
    results = sweep.host_map(gm.run_unit, todo, workers=workers, progress=cfg.progress,
                             desc="global minima", done=int(state["done"].sum()),
                             total=state["done"].size)

    def store(state, res):
        c, t, *values = res
        for name, value in zip(("status", "margin", "borderline", "method", "reference"),
                               values, strict=True):
            state[name][c, t] = value
        return c, t

    sweep.host_fill(results, state, store, ckpt)
    wall = time.perf_counter() - t0

    summary = gm.summarize(cells, state["status"], state["borderline"], state["method"],
                           state["reference"])
    checked = state["reference"] != -2
    agree = int((state["reference"][checked] == state["status"][checked]).sum())
    results = {
        "experiment": "global_minima",
        "document": "slides (Karhadkar, Murray, Tseran, Montufar), Theorem 11, "
                    "Figures 5 and 6",
        "config": dataclasses.asdict(cfg),
        "decision": "yes iff max t s.t. s_ij <w_i, x~_j> >= t (open region), "
                    "sum_i v_i A_ij <w_i, x~_j> = y_j, t <= 1 has t* > tol; "
                    "solver failures are counted apart, never as no",
        "theorem11_width": f"d1 = 2 * {theory.THEOREM11_CONSTANT} n log(n/eps) "
                           "(constant chosen by us; the slides give Omega only)",
        "reference_check": {"checked": int(checked.sum()), "agree": agree},
        "metadata": {**io.run_metadata(wall), "workers": workers},
        "cells": summary,
    }
    io.write_npz(out_dir / "instances.npz", **{k: v for k, v in state.items()})
    io.write_json(out_dir / "results.json", results)
    eps = 0.5
    curves = {"d0=1": (f"Thm 11 width, eps={eps}", lambda n: theory.theorem11_width(n, eps))}
    plotting.proportion_heatmaps(
        summary, out_dir / "global_minima.png",
        title=f"regions with a global minimum ({cfg.targets} targets, "
              f"{cfg.regions} regions/cell)",
        label="P(region contains a global min)", curves=curves,
    )
    ckpt.remove()
    return results


def main(argv: list[str] | None = None) -> int:
    import matplotlib

    matplotlib.use("Agg")
    try:
        cfg = parse_args(argv)
        results = run(cfg)
    except (UsageError, ValueError) as err:
        print(f"global_minima.py: error: {err}", file=sys.stderr)
        return 2
    cells = results["cells"]
    rc = results["reference_check"]
    print(f"wrote {Path(cfg.out) / 'results.json'}: {len(cells)} cells, "
          f"{sum(c['regions'] for c in cells)} regions, "
          f"{results['metadata']['wall_time_s']:.1f} s; "
          f"failed {sum(c['failed'] for c in cells)}, "
          f"borderline {sum(c['borderline'] for c in cells)}; "
          f"agreement with the full HiGHS program: {rc['agree']}/{rc['checked']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
