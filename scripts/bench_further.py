"""Benchmark of the slides' further topics: depth-L heatmaps and the GD grid.

Runs, in one process and in this order:

1. ``deep_rank`` on its default grid (depth 2, 3, 4; d0 = 1, 2; n = 10..100; 8-10
   widths per depth) at ``--trials`` per cell, wall time with compilation (target
   <= 300 s on a 2-core CPU);
2. the baseline for it: a plain per-trial loop (one trial at a time: draw, the same
   jitted vmap(jacrev) Jacobian at the trial's exact shape, ``numpy.linalg.svd`` and
   the same rule) over ``--baseline-trials`` trials of every ``--baseline-every``-th
   cell (13: coprime to the 8 and 10 widths per depth, so all widths are sampled),
   extrapolated by trial counts, without and with its one compilation per cell
   shape; decisions compared with the engine's;
3. ``gradient_descent`` on one 10 x 10 grid (d0 = ``--gd-d0``) at ``--gd-trials``
   initializations per cell, with the Figure 5/6 boundary off (target <= 1200 s;
   ``scripts/bench_gd.py`` compares it with the experiment it replaced).

Prints a table and writes ``OUT/bench.json``.

Example:
  python scripts/bench_further.py --out runs/bench_further
"""

from __future__ import annotations

import _runtime  # noqa: E402  (scripts/ is on sys.path when a script runs)

_runtime.configure()

import argparse  # noqa: E402
import time

DESCRIPTION = __doc__.split("\n\n")[0]


def parse_args(argv):
    p = argparse.ArgumentParser(description=DESCRIPTION)
    p.add_argument("--trials", type=int, default=100)
    p.add_argument("--baseline-trials", type=int, default=10)
    p.add_argument("--baseline-every", type=int, default=13)
    p.add_argument("--gd-trials", type=int, default=100)
    p.add_argument("--gd-d0", type=int, default=2)
    p.add_argument("--skip-gd", action="store_true")
    p.add_argument("--out", default="runs/bench_further")
    return _runtime.bench_args(
        p,
        argv,
        positive=("trials", "baseline_trials", "baseline_every", "gd_trials", "gd_d0"),
    )


def _baseline(res, trials: int, every: int):
    """Plain loop over ``trials`` trials of every ``every``-th cell (a systematic sample:
    ``every`` coprime to the width counts, so every width is sampled): seconds per
    trial without and with the per-shape compilation, agreement with the engine.

    Returns ``(estimate, estimate_with_compile, agree, total, cells)``, the estimates
    being the sampled cells' mean seconds per trial times all trials of the grid."""
    import jax
    import numpy as np

    from jaxnet import models, runtime
    from jaxnet.experiments import deep_rank
    from jaxnet.rank import jacobian

    key = jax.random.key(res.results["config"]["seed"])
    run_s, compile_s, agree, total = [], [], 0, 0
    codes = res.arrays["code"]
    for c, cell in enumerate(res.cells):
        if c % every:
            continue
        net = models.mlp(cell["d0"], cell["d1"], cell["depth"])
        fn = jax.jit(
            deep_rank.jacobian_fn(net, (cell["n"], cell["d0"])), static_argnums=(1, 2)
        )  # one program per exact shape
        t0 = time.perf_counter()
        fn(key, cell["n"], cell["d0"]).block_until_ready()
        compile_s.append(time.perf_counter() - t0)
        seed = runtime.cell_seed("full_rank", "paper", cell["n"], cell["d0"])
        t0 = time.perf_counter()
        for t in range(trials):
            j = np.asarray(fn(runtime.trial_key(key, seed, t), cell["n"], cell["d0"]))
            s = np.linalg.svd(j, compute_uv=False)
            full = j.shape[1] >= cell["n"] and s[cell["n"] - 1] > cell["rtol"] * s[0]
            agree += int(full == (codes[c, t] in jacobian.FULL_CODES))
            total += 1
        run_s.append((time.perf_counter() - t0) / trials)
    n_trials = sum(cell["trials"] for cell in res.cells)
    est = float(np.mean(run_s)) * n_trials
    with_compile = est + float(np.mean(compile_s)) * len(res.cells)
    return est, with_compile, agree, total, len(run_s)


def main(argv=None) -> int:
    a, out_dir = parse_args(argv)
    from jaxnet.experiments import deep_rank, gradient_descent
    from jaxnet.runtime import io

    rows = {}
    t0 = time.perf_counter()
    res = deep_rank.probability(trials=a.trials, check_fig4=False)
    rows["deep_rank default grid"] = time.perf_counter() - t0
    print(
        f"deep_rank default grid ({len(res.cells)} cells x {a.trials} trials): "
        f"{rows['deep_rank default grid']:.1f} s with compilation (target <= 300 s)",
        flush=True,
    )
    print(f"  {res}", flush=True)
    est, est_c, agree, total, cells = _baseline(
        res, a.baseline_trials, a.baseline_every
    )
    rows["baseline loop (extrapolated)"] = est
    eng = rows["deep_rank default grid"]
    print(
        f"  plain per-trial loop, extrapolated from {total} trials of {cells} cells: "
        f"{est:.1f} s without compilation ({est / eng:.2f}x the engine's time), "
        f"{est_c:.1f} s with one compilation per cell shape ({est_c / eng:.2f}x); "
        f"decisions equal on {agree}/{total}",
        flush=True,
    )
    bench = {
        "deep_rank": {
            "seconds": eng,
            "cells": len(res.cells),
            "trials": a.trials,
            "baseline_seconds_extrapolated": est,
            "baseline_seconds_with_compile_extrapolated": est_c,
            "baseline_agree": agree,
            "baseline_checked": total,
            "sweep_seconds": res.results["metadata"]["sweep_seconds"],
        }
    }
    if not a.skip_gd:
        t0 = time.perf_counter()
        g = gradient_descent.train(d0=[a.gd_d0], trials=a.gd_trials, gm_regions=0)
        sec = time.perf_counter() - t0
        print(
            f"gradient_descent d0={a.gd_d0} 10x10 grid x {a.gd_trials} inits, "
            f"{g.results['config']['steps']} steps: {sec:.1f} s with compilation "
            f"(target <= 1200 s)\n  {g}",
            flush=True,
        )
        bench["gradient_descent"] = {
            "seconds": sec,
            "d0": a.gd_d0,
            "trials": a.gd_trials,
            "cells": len(g.cells),
        }
    bench["metadata"] = io.run_metadata(0.0)
    io.write_json(out_dir / "bench.json", bench)
    print(f"wrote {out_dir / 'bench.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
