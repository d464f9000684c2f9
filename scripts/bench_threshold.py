"""Benchmark of the exact threshold engine (w* per trial) against the float engine.

Runs, in one process and in this order:

1. today's engine: the paper d0 = 1 grid of Figure 4 (n = 10..100, d1 = 30..300, 10
   widths) at ``--float-trials`` trials per cell, float SVD rule (``full_rank``);
2. the w* engine on the same grid at ``--grid-trials`` trials per cell (every width
   1..cap at once; target <= 30 s with compilation at 10,000);
3. the d0 = 1 threshold law, n = 50..1000 (20 values) at ``--law-trials`` trials per n
   (target <= 120 s at 1,000);
4. the d0 = 2, 3, 5 laws to n = 300 (15 values) at ``--d0-trials`` trials per n (target
   <= 600 s at 500 together), each against the floor of any method that looks at the
   activation pattern: drawing the units the engine drew and forming their pattern.

Prints a table and writes ``OUT/bench.json``.

Example:
  python scripts/bench_threshold.py --out runs/bench_threshold
"""

from __future__ import annotations

import _runtime  # noqa: E402  (scripts/ is on sys.path when a script runs)

_runtime.configure()

import argparse  # noqa: E402
import sys
import time

TARGETS = {"grid": 30.0, "law_d0=1": 120.0, "law_d0=2,3,5": 600.0}


def _pattern_floor(d0: int, n: int, units_per_trial, trials: int):
    """Seconds to draw ``units_per_trial`` units per trial (the engine's w*) and form
    their activation pattern on the trial's data: the floor of any pattern method."""
    import jax
    import jax.numpy as jnp

    from jaxnet import runtime
    from jaxnet.experiments import full_rank

    width = int(max(units_per_trial))
    seed = runtime.cell_seed("full_rank", "paper", n, d0)

    def one(t):
        key = runtime.trial_key(jax.random.key(0), seed, t)
        p, xs, _ = full_rank.sample_trial(
            key, "paper", n, d0, width, sizes=(n, d0, width), dtype=jnp.float64
        )
        return ((xs @ p["w"].T + p["b"][None, :]) > 0).sum()

    fn = jax.jit(jax.vmap(one))
    ts = jnp.arange(trials, dtype=jnp.uint32)
    fn(ts[:1]).block_until_ready()
    t0 = time.perf_counter()
    fn(ts).block_until_ready()
    return (time.perf_counter() - t0) * float(units_per_trial.mean()) / width


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--float-trials", type=int, default=100)
    p.add_argument("--grid-trials", type=int, default=10000)
    p.add_argument("--law-trials", type=int, default=1000)
    p.add_argument("--d0-trials", type=int, default=500)
    p.add_argument("--skip-d0", action="store_true", help="skip step 4")
    p.add_argument("--out", default="runs/bench_threshold")
    a, out = _runtime.bench_args(
        p, argv, positive=("float_trials", "grid_trials", "law_trials", "d0_trials")
    )
    import jax

    from jaxnet import runtime
    from jaxnet.experiments import full_rank, threshold
    from jaxnet.runtime import io

    grid_n = tuple(range(10, 101, 10))
    res = {}
    rank_dtype = "float64"
    grid = full_rank.make_grid(
        "paper",
        d0_values=(1,),
        n_values=grid_n,
        d1_values=threshold.FIG4_WIDTHS,
        rank_dtype=rank_dtype,
    )
    t0 = time.perf_counter()
    full_rank.run_grid(
        "paper",
        grid,
        a.float_trials,
        ctx=runtime.Context.detached(
            "full_rank", None, base_key=jax.random.key(0), progress=False
        ),
        chunk=64,
        rank_dtype=rank_dtype,
    )
    res["float_grid"] = {
        "cells": len(grid.n),
        "trials_per_cell": a.float_trials,
        "widths": len(threshold.FIG4_WIDTHS),
        "seconds": time.perf_counter() - t0,
    }

    def law(name, **kw):
        t0 = time.perf_counter()
        r = threshold.law(**kw)
        res[name] = {
            "seconds": time.perf_counter() - t0,
            "config": kw,
            "censored": sum(c["censored"] for c in r.results["cells"]),
            "fits": {k: v["best"] for k, v in r.results["fits"].items()},
        }
        return r

    law("grid", d0=[1], n=grid_n, trials=a.grid_trials, bootstrap=200)
    res["grid"]["widths_decided"] = "every d1 in 1..cap (cap >= 300)"
    law(
        "law_d0=1",
        d0=[1],
        n=tuple(range(50, 1001, 50)),
        trials=a.law_trials,
        bootstrap=200,
    )
    if not a.skip_d0:
        t0 = time.perf_counter()
        floors = {}
        for d0 in (2, 3, 5):
            r = law(
                f"law_d0={d0}",
                d0=[d0],
                n=tuple(range(20, 301, 20)),
                trials=a.d0_trials,
                bootstrap=200,
            )
            floor = 0.0
            for i, c in enumerate(r.results["cells"]):
                floor += _pattern_floor(d0, c["n"], r.arrays["w_star"][i], a.d0_trials)
            floors[d0] = floor
            res[f"law_d0={d0}"]["pattern_floor_s"] = floor
        res["law_d0=2,3,5"] = {
            "seconds": time.perf_counter() - t0,
            "pattern_floor_s": sum(floors.values()),
        }
    res["metadata"] = io.run_metadata()
    io.write_json(out / "bench.json", res)

    f = res["float_grid"]
    print(
        f"today's engine (float SVD rule), paper d0=1 grid: {f['cells']} cells x "
        f"{f['trials_per_cell']} trials x {f['widths']} widths: {f['seconds']:.2f} s"
    )
    g = res["grid"]
    print(
        f"w* engine, same grid: 10 n x {a.grid_trials} trials, every width: "
        f"{g['seconds']:.2f} s with compilation (target <= {TARGETS['grid']:.0f} s); "
        f"{g['censored']} censored; vs today's engine: "
        f"{a.grid_trials / a.float_trials:.0f}x the trials in "
        f"{g['seconds'] / f['seconds']:.2f}x the time"
    )
    d1 = res["law_d0=1"]
    print(
        f"d0=1 law, n=50..1000 x {a.law_trials} trials: {d1['seconds']:.1f} s "
        f"(target <= {TARGETS['law_d0=1']:.0f} s); censored {d1['censored']}; best "
        f"fit {d1['fits']}"
    )
    if not a.skip_d0:
        for d0 in (2, 3, 5):
            r = res[f"law_d0={d0}"]
            print(
                f"d0={d0} law, n=20..300 x {a.d0_trials} trials: {r['seconds']:.1f} s; "
                f"pattern floor {r['pattern_floor_s']:.1f} s "
                f"({r['seconds'] / r['pattern_floor_s']:.0f}x the floor); censored "
                f"{r['censored']}; best fit {r['fits']}"
            )
        print(
            f"d0=2,3,5 together: {res['law_d0=2,3,5']['seconds']:.1f} s (target <= "
            f"{TARGETS['law_d0=2,3,5']:.0f} s)"
        )
    print(f"wrote {out / 'bench.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
