"""Benchmark of the full-rank sweep (the slides' Figure 4) against a plain per-trial loop.

Runs, in one process and in this order:

1. the peer d0 = 1 grid (n = 10..100, d1 = 30..300, 100 cells x ``--trials``) with the
   jaxnet engine: wall time including compilation, then again without it;
2. all 8 heatmaps of Figure 4 (peer grids: d0 in {1, 2, 3, 5}, ratio in {0.25, 0.5, 1, 2});
3. the baseline: a plain loop over trials, each forming the same Jacobian (jitted closed
   form, exact shape) and calling ``numpy.linalg.matrix_rank`` on it, over a subset of
   cells, extrapolated to the whole grid by its trial counts; the decisions are compared
   with the engine's on the same trials;
4. the arithmetic limit: the flops of the rank computations the engine does (Gram
   matrices, Cholesky factorizations, power iteration, at each bucket's padded
   sizes), over this machine's measured float64 matmul throughput.

Prints a table and writes ``OUT/bench.json``.

Example:
  python scripts/bench_full_rank.py --out runs/bench
"""

from __future__ import annotations

import _runtime  # noqa: E402  (scripts/ is on sys.path when a script runs)

_runtime.configure()

import argparse  # noqa: E402
import sys
import time
from pathlib import Path

DESCRIPTION = __doc__.split("\n\n")[0]
REFERENCE_SECONDS = {"d0=1 grid": 43.9, "8 heatmaps": 745.0}  # REFERENCE_CODE.md


def parse_args(argv):
    p = argparse.ArgumentParser(description=DESCRIPTION)
    p.add_argument("--trials", type=int, default=100)
    p.add_argument("--chunk", type=int, default=64)
    p.add_argument(
        "--baseline-cells",
        type=int,
        default=10,
        help="cells of the d0=1 grid timed by the baseline loop",
    )
    p.add_argument("--baseline-trials", type=int, default=20)
    p.add_argument("--skip-suite", action="store_true", help="skip the 8-heatmap suite")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="runs/bench_full_rank")
    return _runtime.bench_args(
        p, argv, positive=("trials", "chunk", "baseline_cells", "baseline_trials")
    )


def _sweep(full_rank, convention, key, trials, chunk, **grid_kw):
    from jaxnet import nets, runtime

    rank_dtype = nets.get_convention(convention).rank_dtype
    grid = full_rank.make_grid(convention, rank_dtype=rank_dtype, **grid_kw)
    t0 = time.perf_counter()
    out = full_rank.run_grid(
        convention,
        grid,
        trials,
        ctx=runtime.Context.detached("full_rank", None, base_key=key),
        chunk=chunk,
        rank_dtype=rank_dtype,
    )
    return time.perf_counter() - t0, grid, out


def _engine_flops(full_rank, out, trials) -> float:
    """Flops of the certificates as run: every bucket's trials at its padded sizes."""
    from jaxnet.rank import fig4

    return sum(
        b["columns"]
        * trials
        * fig4._column_flops(b["sizes"], len(b["widths"]), b["factorizations"])
        for b in out["buckets"]
    )


def _matmul_gflops(jax, jnp) -> float:
    a = jnp.ones((2000, 2000), jnp.float64)
    f = jax.jit(lambda a: a @ a)
    f(a).block_until_ready()
    t0 = time.perf_counter()
    for _ in range(5):
        f(a).block_until_ready()
    return 5 * 2 * 2000**3 / (time.perf_counter() - t0) / 1e9


def main(argv=None) -> int:
    a, out_dir = parse_args(argv)
    import jax
    import jax.numpy as jnp
    import numpy as np

    from jaxnet import nets, runtime
    from jaxnet.experiments import full_rank
    from jaxnet.rank import jacobian
    from jaxnet.runtime import io

    key = jax.random.key(a.seed)
    d0_grid = dict(
        d0_values=(1,),
        n_values=full_rank.PEER_D0_GRID["n"],
        d1_values=full_rank.PEER_D0_GRID["d1"],
    )
    res = {"trials_per_cell": a.trials, "chunk": a.chunk}

    cold, grid, out1 = _sweep(full_rank, "peer", key, a.trials, a.chunk, **d0_grid)
    warm, _, out2 = _sweep(full_rank, "peer", key, a.trials, a.chunk, **d0_grid)
    assert np.array_equal(out1["code"], out2["code"])
    seeds = full_rank.grid_seeds("peer", grid)
    n_units = len(grid.n) * a.trials
    res["d0=1 grid"] = {
        "cells": len(grid.n),
        "trials": n_units,
        "wall_s_with_compile": cold,
        "wall_s_without_compile": warm,
        "trials_per_s": n_units / warm,
        "host_refined": int(np.isfinite(out1["s_ratio"]).sum()),
        "svd_refined": int(
            np.isin(out1["code"], (jacobian.SVD_FULL, jacobian.SVD_DEFICIENT)).sum()
        ),
        "flops": _engine_flops(full_rank, out1, a.trials),
        "buckets": out1["buckets"],
    }

    if not a.skip_suite:
        suite_t, suite_trials, suite_flops, per_family = 0.0, 0, 0.0, {}
        for name, kw in (
            (
                "d0",
                dict(
                    d0_values=full_rank.FIG4_D0,
                    n_values=full_rank.PEER_D0_GRID["n"],
                    d1_values=full_rank.PEER_D0_GRID["d1"],
                ),
            ),
            (
                "ratio",
                dict(
                    ratios=full_rank.FIG4_RATIOS,
                    n_values=full_rank.PEER_RATIO_GRID["n"],
                    d1_values=full_rank.PEER_RATIO_GRID["d1"],
                ),
            ),
        ):
            t, g, o = _sweep(full_rank, "peer", key, a.trials, a.chunk, **kw)
            suite_t += t
            suite_trials += len(g.n) * a.trials
            suite_flops += _engine_flops(full_rank, o, a.trials)
            per_family[name] = {
                "seconds": t,
                "buckets": o["buckets"],
                "host_refined": int(np.isfinite(o["s_ratio"]).sum()),
                "svd_refined": int(
                    np.isin(
                        o["code"], (jacobian.SVD_FULL, jacobian.SVD_DEFICIENT)
                    ).sum()
                ),
            }
        res["8 heatmaps"] = {
            "trials": suite_trials,
            "wall_s_with_compile": suite_t,
            "trials_per_s": suite_trials / suite_t,
            "flops": suite_flops,
            "families": per_family,
        }

    # Baseline: a plain loop, one Jacobian and one numpy matrix_rank per trial.
    wrt = nets.get_convention("peer").wrt
    pick = np.linspace(0, len(grid.n) - 1, a.baseline_cells).round().astype(int)
    base_t, base_trials, agree, est_total = 0.0, 0, 0, 0.0
    for c in pick:
        n, d0, d1 = int(grid.n[c]), int(grid.d0[c]), int(grid.d1[c])

        @jax.jit
        def jac_of(k, n=n, d0=d0, d1=d1):
            params, xs, _ = full_rank.sample_trial(
                k, "peer", n, d0, d1, sizes=(n, d0, d1), dtype=jnp.float32
            )
            return jacobian.closed_form_jacobian(params, xs, wrt)

        jac_of(runtime.trial_key(key, seeds[c], 0)).block_until_ready()  # compile
        t0 = time.perf_counter()
        for t in range(a.baseline_trials):
            jac = np.asarray(jac_of(runtime.trial_key(key, seeds[c], t)))
            full = np.linalg.matrix_rank(jac) == n  # float32 J, float32 rule
            agree += full == (out1["code"][c, t] in jacobian.FULL_CODES)
        dt = time.perf_counter() - t0
        base_t += dt
        base_trials += a.baseline_trials
        est_total += dt / a.baseline_trials * a.trials * (len(grid.n) / len(pick))
    res["baseline"] = {
        "cells_timed": len(pick),
        "trials_timed": base_trials,
        "seconds": base_t,
        "s_per_trial": base_t / base_trials,
        "extrapolated_d0=1_grid_s": est_total,
        "decisions_agreeing_with_engine": int(agree),
    }
    gflops = _matmul_gflops(jax, jnp)
    res["machine_matmul_gflops_f64"] = gflops
    res["metadata"] = io.run_metadata()
    io.write_json(Path(out_dir) / "bench.json", res)

    g1 = res["d0=1 grid"]
    print(
        f"machine: {res['metadata']['cpu_count']} CPUs, backend "
        f"{res['metadata']['backend']}, float64 matmul {gflops:.1f} GFLOP/s"
    )
    print(f"peer d0=1 grid ({g1['cells']} cells x {a.trials} trials = {g1['trials']}):")
    print(
        f"  jaxnet: {g1['wall_s_with_compile']:.2f} s with compilation, "
        f"{g1['wall_s_without_compile']:.2f} s without ({g1['trials_per_s']:.0f} "
        f"trials/s); re-decided on the host: {g1['host_refined']} trials, "
        f"{g1['svd_refined']} of them by SVD"
    )
    print(
        f"  arithmetic limit: {g1['flops'] / 1e9:.1f} GFLOP at {gflops:.1f} GFLOP/s = "
        f"{g1['flops'] / 1e9 / gflops:.2f} s "
        f"(jaxnet at {g1['flops'] / 1e9 / g1['wall_s_without_compile']:.1f} GFLOP/s,"
        f" {g1['flops'] / 1e9 / gflops / g1['wall_s_without_compile']:.0%} of it)"
    )
    b = res["baseline"]
    print(
        f"  baseline loop (jitted J + numpy matrix_rank): {b['s_per_trial'] * 1e3:.2f} "
        f"ms/trial over {b['trials_timed']} trials, extrapolated "
        f"{b['extrapolated_d0=1_grid_s']:.1f} s -> jaxnet is "
        f"{b['extrapolated_d0=1_grid_s'] / g1['wall_s_with_compile']:.1f}x faster "
        f"(with compilation); decisions agree on {b['decisions_agreeing_with_engine']}"
        f"/{b['trials_timed']}"
    )
    print(
        f"  reference PyTorch code (quoted from REFERENCE_CODE.md, not re-run): "
        f"{REFERENCE_SECONDS['d0=1 grid']} s -> "
        f"{REFERENCE_SECONDS['d0=1 grid'] / g1['wall_s_with_compile']:.1f}x"
    )
    if "8 heatmaps" in res:
        s8 = res["8 heatmaps"]
        print(
            f"all 8 heatmaps ({s8['trials']} trials): {s8['wall_s_with_compile']:.2f} s "
            f"with compilation ({s8['trials_per_s']:.0f} trials/s); arithmetic limit "
            f"{s8['flops'] / 1e9 / gflops:.2f} s; reference (quoted) "
            f"{REFERENCE_SECONDS['8 heatmaps']} s -> "
            f"{REFERENCE_SECONDS['8 heatmaps'] / s8['wall_s_with_compile']:.1f}x"
        )
        for name, fam in s8["families"].items():
            print(
                f"  {name} family: {fam['seconds']:.2f} s in {len(fam['buckets'])} "
                f"programs (N, D0, D1): "
                + ", ".join(
                    f"{tuple(b['sizes'])}x{b['columns']} {b['seconds']:.1f}s"
                    for b in fam["buckets"]
                )
            )
    print(f"wrote {Path(out_dir) / 'bench.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
