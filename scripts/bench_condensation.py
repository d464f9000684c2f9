"""Benchmark of the teacher–student computations (the report's experiment).

Runs, in one process:

1. the report's experiment, ``--seeds`` seeds × width 100 × N = 40, trained by SGD with
   the λ continuation of ``scripts/condensation.py`` (same defaults) in one vmapped,
   compiled program: wall time including compilation, and how many runs end with a
   full-batch gradient norm of J_λ below ``--grad-tol`` (the saved convergence
   criterion);
2. the baseline: the same training as a plain loop over seeds (one jitted single-seed
   program, reused), over ``--baseline-seeds`` seeds, extrapolated;
3. the exact minimum-norm program (cvxpy + Clarabel) at N = 40, d = 2 on
   ``--exact-instances`` instances: seconds per instance (mean and max);
4. the converged λ-sweep (``jaxnet.experiments.condensation_sweep``, its defaults:
   100 seeds × N = 40, 20, warm-up GD then L-BFGS to the stopping rule), one λ at a
   time: the time to stationarity per λ (with compilation) and the steps it took;
   and the plain-GD baseline in the same run: ``--gd-seeds`` seeds per λ at N = 40,
   plain gradient descent (lr 0.2) from the same initialization under the same rule,
   checked every 10,000 steps, at most ``--gd-max-steps`` steps (``--skip-sweep``
   leaves 4 out).

Prints a table and writes ``OUT/bench.json``.

Example:
  python scripts/bench_condensation.py --out runs/bench_condensation
"""

from __future__ import annotations

import _runtime  # noqa: E402  (scripts/ is on sys.path when a script runs)

_runtime.configure()

import argparse  # noqa: E402
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, default=100)
    p.add_argument("--baseline-seeds", type=int, default=5)
    p.add_argument("--exact-instances", type=int, default=20)
    p.add_argument("--grad-tol", type=float, default=1e-3)
    p.add_argument("--gd-seeds", type=int, default=3)
    p.add_argument("--gd-max-steps", type=int, default=2_000_000)
    p.add_argument("--skip-sweep", action="store_true")
    p.add_argument("--out", default="runs/bench_condensation")
    a, out = _runtime.bench_args(p, argv, positive=("seeds", "baseline_seeds"))
    import jax
    import jax.numpy as jnp
    import numpy as np

    from jaxnet.experiments import condensation as script
    from jaxnet.runtime import io
    from jaxnet.teacher_student import measures, minnorm, teachers, train

    cfg = script.Config(seeds=a.seeds)
    tcfg = cfg.train_config()
    teacher = teachers.make(cfg.teacher, 3, 2)
    keys, x, y = script.make_data(cfg, 40, teacher, jax.random.key(cfg.seed))
    s = a.seeds

    t0 = time.perf_counter()
    fn = jax.jit(
        lambda k, xx, yy: train.train_batch(
            k,
            xx,
            yy,
            jnp.full(s, cfg.lr),
            jnp.full(s, cfg.lam),
            jnp.full(s, cfg.lam_final),
            tcfg,
        )
    )
    params, trace = jax.block_until_ready(fn(keys, x, y))
    batched = time.perf_counter() - t0
    gn = np.asarray(trace.grad_norm[:, -1])
    sq = np.array(
        [
            measures.squared_norm({k: np.asarray(v[r]) for k, v in params.items()})
            for r in range(s)
        ]
    )

    single = jax.jit(
        lambda k, xx, yy: train.train(k, xx, yy, cfg.lr, cfg.lam, cfg.lam_final, tcfg)
    )
    jax.block_until_ready(single(keys[0], x[0], y[0]))  # compile once, not timed
    t0 = time.perf_counter()
    for r in range(a.baseline_seeds):
        p1, _ = jax.block_until_ready(single(keys[r], x[r], y[r]))
    loop = (time.perf_counter() - t0) / a.baseline_seeds
    agree = np.allclose(
        np.asarray(p1["w"]),
        np.asarray(params["w"][a.baseline_seeds - 1]),
        rtol=1e-9,
        atol=1e-12,
    )

    rng = np.random.default_rng(0)
    times = []
    statuses = []
    for _ in range(a.exact_instances):
        th = rng.uniform(0, 2 * np.pi, 40)
        xe = np.stack([np.cos(th), np.sin(th)], axis=1)
        ye = measures.evaluate(teacher, xe)
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sol = minnorm.min_norm_interpolant(xe, ye)
        times.append(time.perf_counter() - t0)
        statuses.append(sol.status)
    times = np.array(times)

    res = {
        "report_experiment": {
            "seeds": s,
            "width": cfg.width,
            "N": 40,
            "steps": cfg.steps,
            "batch": cfg.batch,
            "wall_s_with_compile": batched,
            "converged": int((gn < a.grad_tol).sum()),
            "grad_tol": a.grad_tol,
            "grad_norm_max": float(gn.max()),
            "sq_norm_mean": float(sq.mean()),
            "baseline_s_per_seed": loop,
            "baseline_extrapolated_s": loop * s,
            "baseline_matches_batched_run": bool(agree),
        },
        "exact_program": {
            "instances": a.exact_instances,
            "s_mean": float(times.mean()),
            "s_max": float(times.max()),
            "s_first": float(times[0]),
            "optimal": int(sum(st == minnorm.OPTIMAL for st in statuses)),
        },
        "metadata": io.run_metadata(),
    }
    if not a.skip_sweep:
        res["sweep"] = _sweep(a)
    io.write_json(out / "bench.json", res)
    r = res["report_experiment"]
    print(
        f"report experiment ({s} seeds x width {cfg.width} x N=40, {cfg.steps} SGD "
        f"steps): {r['wall_s_with_compile']:.2f} s with compilation (target <= 30 s); "
        f"converged (grad norm < {a.grad_tol:g}) {r['converged']}/{s}, "
        f"max grad norm {r['grad_norm_max']:.2e}; mean ||theta||^2 {r['sq_norm_mean']:.3f}"
    )
    print(
        f"  baseline loop over seeds: {loop:.2f} s/seed -> {loop * s:.1f} s for {s} "
        f"seeds ({loop * s / batched:.1f}x slower); same parameters as the batched "
        f"run: {agree}"
    )
    e = res["exact_program"]
    print(
        f"exact min-norm program, N=40, d=2: {e['s_mean']:.3f} s/instance mean, "
        f"{e['s_max']:.3f} s max (first, with imports: {e['s_first']:.3f} s; target "
        f"<= 0.5 s); optimal {e['optimal']}/{e['instances']}"
    )
    sw = res.get("sweep")
    if sw:
        print(
            f"converged lambda-sweep ({sw['seeds']} seeds x N={sw['N']} x "
            f"{len(sw['per_lam'])} lambda, to stationarity): {sw['total_s']:.1f} s in all "
            f"(target <= 900 s)"
        )
        for row in sw["per_lam"]:
            g = row["plain_gd"]
            print(
                f"  lambda={row['lam']:g}: {row['seconds']:.1f} s, converged "
                f"{row['converged']}/{row['runs']} ({row['stops']}), L-BFGS steps median "
                f"{row['steps_median']:.0f} max {row['steps_max']}; plain GD: "
                f"{g['reached']}/{g['seeds']} seeds met the rule within "
                f"{a.gd_max_steps} steps (steps {g['steps']}, end grad_rel "
                f"{max(g['grad_rel']):.1e}), {g['s_per_seed']:.1f} s/seed"
            )
    print(f"wrote {out / 'bench.json'}")
    return 0


def _sweep(a) -> dict:
    import jax
    import jax.numpy as jnp
    import numpy as np

    from jaxnet import runtime
    from jaxnet.experiments import condensation_sweep
    from jaxnet.teacher_student import teachers, train

    base = condensation_sweep.Config()
    teacher = teachers.make(base.teacher, 3, 2)
    rows, total = [], 0.0
    for lam in base.lam:
        cfg = condensation_sweep.Config(lam=(lam,), exact=False, check_seeds=0)
        t0 = time.perf_counter()
        res = runtime.run(condensation_sweep, cfg, runtime.Options(progress=False))
        dt = time.perf_counter() - t0
        total += dt
        runs = [r for blk in res.results["per_N"] for r in blk["cells"][0]["runs"]]
        steps = np.array([r["steps"] for r in runs])
        stops = {k: sum(r["stop"] == k for r in runs) for k in condensation_sweep.STOPS}
        # plain GD from the same initialization, same rule
        seed_n = runtime.cell_seed(condensation_sweep.SPEC.name, 40)
        gd = jax.jit(
            lambda k, lam=lam: train.until_stationary(
                train.init_student(
                    jax.random.split(k)[0], base.width, 2, base.init_scale
                ),
                *condensation_sweep.trial_data(k, 40, teacher),
                lam,
                jnp.asarray(teacher["w"]),
                method="gd",
                lr=base.lr,
                stop=train.Stop(
                    grad_rtol=base.grad_rtol, every=10000, max_steps=a.gd_max_steps
                ),
            )[1]
        )
        t1 = time.perf_counter()
        st = [
            gd(runtime.trial_key(jax.random.key(base.seed), seed_n, s))
            for s in range(a.gd_seeds)
        ]
        jax.block_until_ready(st)
        gd_s = (time.perf_counter() - t1) / a.gd_seeds
        rows.append(
            {
                "lam": lam,
                "seconds": dt,
                "runs": len(runs),
                "converged": int(sum(r["converged"] for r in runs)),
                "stops": stops,
                "steps_median": float(np.median(steps)),
                "steps_max": int(steps.max()),
                "plain_gd": {
                    "seeds": a.gd_seeds,
                    "s_per_seed": gd_s,
                    "reached": int(sum(bool(x.converged) for x in st)),
                    "steps": [int(x.steps) for x in st],
                    "grad_rel": [float(x.grad_rel) for x in st],
                },
            }
        )
    return {"seeds": base.seeds, "N": list(base.N), "total_s": total, "per_lam": rows}


if __name__ == "__main__":
    sys.exit(main())
