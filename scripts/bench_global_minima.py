"""Benchmark of the global-minimum decisions (the slides' Figures 5 and 6).

Runs, in one process: the Figure 5 grid (d0 = 1, n = 10..100, d1 = 100..1000) and the
Figure 6 grid (d0 = 2 and 5, n = 5..30, d1 = 10..110), ``--regions`` per cell, through
``scripts/global_minima.py`` (wall time including worker start-up and the reference
checks); the agreement of every fast decision with the plain full HiGHS program on a
shared random subset; and a baseline: that plain program (one LP over all d1·(d0+1)
weights per region, as the public reference code poses it but with free weights),
timed on a few instances of a spread of cells and extrapolated to each grid.

Prints a table and writes ``OUT/bench.json``.

Example:
  python scripts/bench_global_minima.py --out runs/bench_gm
"""

from __future__ import annotations

import _runtime  # noqa: E402  (scripts/ is on sys.path when a script runs)

_runtime.configure()

import argparse  # noqa: E402
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

TARGET_S = {"fig5": 300.0, "fig6": 120.0}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--regions", type=int, default=100)
    p.add_argument("--check-reference", type=int, default=100)
    p.add_argument("--baseline-cells", type=int, default=6)
    p.add_argument("--baseline-regions", type=int, default=2)
    p.add_argument("--out", default="runs/bench_global_minima")
    a, out = _runtime.bench_args(p, argv, positive=("regions",), x64=False)
    import jax
    import numpy as np

    from jaxnet import runtime
    from jaxnet.experiments import global_minima
    from jaxnet.runtime import io

    res = {}
    for name, d0s in (("fig5", (1,)), ("fig6", (2, 5))):
        cfg = global_minima.Config(
            d0=d0s, regions=a.regions, check_reference=a.check_reference
        )
        t0 = time.perf_counter()
        r = runtime.run(
            global_minima, cfg, runtime.Options(out=str(out / name), progress=False)
        ).results
        wall = time.perf_counter() - t0
        cells = cfg.cells()
        pick = np.linspace(0, len(cells) - 1, a.baseline_cells).round().astype(int)
        base_t, per_cell = 0.0, []
        for c in pick:
            t1 = time.perf_counter()
            keys = runtime.trial_key_data(
                jax.random.key(cfg.seed),
                [global_minima.cell_seed(*cells[c], cfg.targets)],
                a.baseline_regions,
            )[0]
            for t in range(a.baseline_regions):
                _, xt, pattern, v, y = global_minima.instance(
                    runtime.host_rng(keys[t]), cells[c], cfg.targets
                )
                global_minima.reference(xt, pattern, v, y)
            dt = time.perf_counter() - t1
            base_t += dt
            per_cell.append(dt / a.baseline_regions)
        # Extrapolate: mean time per region over the sampled cells, times all regions.
        est = float(np.mean(per_cell)) * len(cells) * a.regions
        res[name] = {
            "cells": len(cells),
            "regions": len(cells) * a.regions,
            "wall_s": wall,
            "target_s": TARGET_S[name],
            "reference_check": r["reference_check"],
            "failed": sum(c["failed"] for c in r["cells"]),
            "borderline": sum(c["borderline"] for c in r["cells"]),
            "decided_by": {
                k: sum(c["decided_by"][k] for c in r["cells"])
                for k in global_minima.METHOD_NAMES
            },
            "baseline_s_per_region": float(np.mean(per_cell)),
            "baseline_extrapolated_s": est,
        }
    res["metadata"] = io.run_metadata()
    io.write_json(out / "bench.json", res)
    for name, b in res.items():
        if name == "metadata":
            continue
        rc = b["reference_check"]
        print(
            f"{name}: {b['cells']} cells x {a.regions} regions in {b['wall_s']:.1f} s "
            f"(target <= {b['target_s']:.0f} s); decided by {b['decided_by']}; "
            f"failed {b['failed']}, borderline {b['borderline']}; agreement with the "
            f"full HiGHS program {rc['agree']}/{rc['checked']}; baseline (full LP per "
            f"region) {b['baseline_s_per_region'] * 1e3:.0f} ms/region -> "
            f"{b['baseline_extrapolated_s']:.0f} s extrapolated "
            f"({b['baseline_extrapolated_s'] / b['wall_s']:.1f}x)"
        )
    print(f"wrote {out / 'bench.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
