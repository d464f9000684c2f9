"""P(the Jacobian of a random two-layer ReLU net has full rank n): the slides' Figure 4.

Heatmaps over (n, d1) of the probability that rank ∇_θF(θ, X) = n at a random
initialization, for fixed d0 (``--d0 1 2 3 5``, the figure's first panel) and for
d0 = ⌈ratio·n⌉ (``--ratio 0.25 0.5 1 2``, its second). ``--convention paper`` is the
slides' setting; ``--convention peer`` reproduces the public PyTorch reference code
(including its float32 rank rule; ``--rank-dtype float64`` keeps its sampling and
decides rank in float64). See ``jaxnet/full_rank.py`` for the rank rules.

Writes ``OUT/results.json`` (config, metadata, one entry per cell), ``OUT/trials.npz``
(every trial's decision code and, for SVD-refined trials, s_n/s_1) and the heatmaps
``OUT/full_rank_<family>.png``. An interrupted run resumes from ``OUT/checkpoint-*.npz``.

Example:
  python scripts/full_rank.py --convention peer --d0 1 --trials 100 --out runs/peer_d0
"""

from __future__ import annotations

import _runtime  # noqa: E402  (scripts/ is on sys.path when a script runs)

_runtime.configure()

import argparse  # noqa: E402
import dataclasses
import math
import sys
import time
from pathlib import Path

DESCRIPTION = __doc__.split("\n\n")[0]


@dataclasses.dataclass(frozen=True)
class Config:
    convention: str = "paper"
    d0: tuple[int, ...] = ()
    ratio: tuple[float, ...] = ()
    n: tuple[int, ...] = ()
    d1: tuple[int, ...] = ()
    trials: int = 100
    seed: int = 0
    chunk: int = 64
    rank_dtype: str = ""
    rtol: float = 0.0
    beta: float = 2.0
    max_buckets: int = 8
    out: str = "runs/full_rank"
    progress: bool = True
    checkpoint_every: float = 10.0
    exact_check: int = 0
    coordinator: str = ""
    num_processes: int = 1
    process_id: int = 0


class UsageError(ValueError):
    pass


def parse_args(argv) -> Config:
    p = argparse.ArgumentParser(description=DESCRIPTION)
    p.add_argument("--convention", choices=["paper", "peer"], default=Config.convention)
    p.add_argument("--d0", type=int, nargs="+", default=None,
                   help="fixed input dimensions (Figure 4, first panel)")
    p.add_argument("--ratio", type=float, nargs="+", default=None,
                   help="d0 = ceil(ratio*n) (Figure 4, second panel)")
    p.add_argument("--n", type=int, nargs="+", default=None,
                   help="data-set sizes (default: the reference code's grid)")
    p.add_argument("--d1", type=int, nargs="+", default=None,
                   help="hidden widths (default: the reference code's grid)")
    p.add_argument("--trials", type=int, default=Config.trials)
    p.add_argument("--seed", type=int, default=Config.seed)
    p.add_argument("--chunk", type=int, default=Config.chunk,
                   help="trials evaluated at once per device (bounds memory)")
    p.add_argument("--rank-dtype", choices=["float32", "float64"], default=None,
                   help="rank rule eps: float64 (paper default) or float32 (peer default)")
    p.add_argument("--rtol", type=float, default=None,
                   help="relative tolerance s_n > rtol*s_1 (default max(n,P)*eps)")
    p.add_argument("--beta", type=float, default=Config.beta,
                   help="certification margin: certified decisions hold for tolerances "
                        "in [rtol/beta, rtol*beta]")
    p.add_argument("--max-buckets", type=int, default=Config.max_buckets,
                   help="at most this many compiled programs per panel family (cells "
                        "are grouped by size to limit padding)")
    p.add_argument("--out", default=Config.out)
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=True)
    p.add_argument("--checkpoint-every", type=float, default=Config.checkpoint_every,
                   help="seconds between checkpoint writes")
    p.add_argument("--exact-check", type=int, default=0,
                   help="cross-check the first K trials of every cell against their exact "
                        "generic rank (mod 2^31-1, no tolerance)")
    p.add_argument("--coordinator", default="",
                   help="multi-process run: HOST:PORT of process 0 (jax.distributed)")
    p.add_argument("--num-processes", type=int, default=1,
                   help="multi-process run: number of processes")
    p.add_argument("--process-id", type=int, default=0,
                   help="multi-process run: this process's index")
    a = p.parse_args(argv)
    if a.d0 is None and a.ratio is None:
        a.d0 = [1, 2, 3, 5]
    for name in ("d0", "n", "d1"):
        vals = getattr(a, name)
        if vals is not None and (not vals or min(vals) <= 0):
            raise UsageError(f"--{name} must be a non-empty list of positive integers; got {vals}")
    if a.ratio is not None and (not a.ratio or not all(0 < r < math.inf for r in a.ratio)):
        raise UsageError(f"--ratio must be a non-empty list of numbers > 0; got {a.ratio}")
    for name in ("trials", "chunk", "max_buckets"):
        if getattr(a, name) <= 0:
            raise UsageError(f"--{name.replace('_', '-')} must be a positive integer; "
                             f"got {getattr(a, name)}")
    if a.seed < 0:
        raise UsageError(f"--seed must be >= 0; got {a.seed}")
    if a.exact_check < 0:
        raise UsageError(f"--exact-check must be >= 0; got {a.exact_check}")
    if not 0 <= a.checkpoint_every < math.inf:
        raise UsageError(f"--checkpoint-every must be >= 0; got {a.checkpoint_every}")
    if a.num_processes < 1:
        raise UsageError(f"--num-processes must be >= 1; got {a.num_processes}")
    if not 0 <= a.process_id < a.num_processes:
        raise UsageError(f"--process-id must be in [0, --num-processes); got "
                         f"{a.process_id}")
    if a.num_processes > 1 and ":" not in a.coordinator:
        raise UsageError(f"--coordinator must be HOST:PORT with --num-processes > 1; "
                         f"got {a.coordinator!r}")
    if a.rtol is not None and not 0 < a.rtol < 1:
        raise UsageError(f"--rtol must be in (0, 1); got {a.rtol}")
    if not math.sqrt(2) <= a.beta < math.inf:
        raise UsageError(f"--beta must be finite with beta**2 >= 2 (beta >= 1.414...); "
                         f"got {a.beta}")
    return Config(
        convention=a.convention,
        d0=tuple(a.d0 or ()), ratio=tuple(a.ratio or ()),
        n=tuple(a.n or ()), d1=tuple(a.d1 or ()),
        trials=a.trials, seed=a.seed, chunk=a.chunk,
        rank_dtype=a.rank_dtype or "", rtol=a.rtol or 0.0, beta=a.beta,
        max_buckets=a.max_buckets,
        out=a.out, progress=a.progress, checkpoint_every=a.checkpoint_every,
        exact_check=a.exact_check,
        coordinator=a.coordinator, num_processes=a.num_processes,
        process_id=a.process_id,
    )


def families(cfg: Config):
    """(name, d0 list, ratio list, n list, d1 list) for each panel family to run."""
    from jaxnet import full_rank as fr

    out = []
    if cfg.d0:
        g = fr.PEER_D0_GRID
        out.append(("d0", cfg.d0, (), cfg.n or g["n"], cfg.d1 or g["d1"]))
    if cfg.ratio:
        g = fr.PEER_RATIO_GRID
        out.append(("ratio", (), cfg.ratio, cfg.n or g["n"], cfg.d1 or g["d1"]))
    return out


def run(cfg: Config) -> dict:
    import jax

    jax.config.update("jax_enable_x64", True)

    from jaxnet import full_rank as fr
    from jaxnet import io, plotting, sweep

    if cfg.num_processes > 1:
        sweep.init_distributed(cfg.coordinator, cfg.num_processes, cfg.process_id)
    main = sweep.is_main_process()

    out_dir = io.check_writable_dir(cfg.out)
    rank_dtype = cfg.rank_dtype or fr.RANK_DTYPE_DEFAULT[cfg.convention]
    rtol = cfg.rtol or None
    base_key = jax.random.key(cfg.seed)
    t0 = time.perf_counter()
    all_cells, arrays, timings = [], {}, {}
    for name, d0s, ratios, ns, d1s in families(cfg):
        grid = fr.make_grid(cfg.convention, d0_values=d0s, ratios=ratios, n_values=ns,
                            d1_values=d1s, rank_dtype=rank_dtype, rtol=rtol)
        ckpt_cfg = {**dataclasses.asdict(cfg), "family": name, "progress": None,
                    "chunk": None, "out": None, "checkpoint_every": None,
                    "coordinator": None, "num_processes": None, "process_id": None}
        t1 = time.perf_counter()
        res = fr.run_grid(
            cfg.convention, grid, cfg.trials, base_key=base_key, chunk=cfg.chunk,
            rank_dtype=rank_dtype, beta=cfg.beta, max_buckets=cfg.max_buckets,
            checkpoint_prefix=out_dir / f"checkpoint-{name}",
            fingerprint=io.fingerprint(ckpt_cfg), progress=cfg.progress,
            checkpoint_every=cfg.checkpoint_every, exact_trials=cfg.exact_check,
            desc=f"full rank ({name})",
        )
        timings[name] = {"seconds": time.perf_counter() - t1, "buckets": res["buckets"]}
        all_cells += fr.summarize(grid, res["code"], res["s_ratio"], cfg.beta,
                                  res.get("exact_rank"))
        if "exact_rank" in res:
            arrays[f"{name}_exact_rank"] = res["exact_rank"]
        arrays[f"{name}_code"] = res["code"]
        arrays[f"{name}_s_ratio"] = res["s_ratio"]
        arrays[f"{name}_svd_rank"] = res["svd_rank"]
    wall = time.perf_counter() - t0
    results = {
        "experiment": "full_rank",
        "document": "slides (Karhadkar, Murray, Tseran, Montufar), Figure 4",
        "config": {**dataclasses.asdict(cfg), "rank_dtype": rank_dtype,
                   "rtol": cfg.rtol or "max(n, P) * eps(rank_dtype)"},
        "parameterization": {
            "network": "F(x) = sum_i v_i relu(<w_i, x> + b_i)",
            "paper": "x~N(0,I), w,b,v~N(0,1); J wrt W=[w|b]: n x d1(d0+1)",
            "peer": "x~U[0,1]^d0, w,b~U(-1/sqrt(d0),1/sqrt(d0)), v~N(0,1) frozen; "
                    "J wrt (b,v,w): n x (d1 d0 + 2 d1)",
        },
        "rank_rule": "full rank iff s_n(J) > rtol * s_1(J); Gram/Cholesky certificates "
                     "with margin beta, the rest decided by numpy SVD of J",
        "metadata": {**io.run_metadata(wall), "sweep_seconds": timings},
        "cells": all_cells,
    }
    if not main:  # process 0 writes; every process holds the same numbers
        return results
    io.write_npz(out_dir / "trials.npz", **arrays)
    io.write_json(out_dir / "results.json", results)
    for name, *_ in families(cfg):
        sub = [c for c in all_cells if c["panel"].startswith(name + "=")]
        plotting.full_rank_heatmaps(
            sub, out_dir / f"full_rank_{name}.png",
            title=f"{cfg.convention} convention, {rank_dtype} rank rule, "
                  f"{cfg.trials} trials/cell",
        )
        for path in out_dir.glob(f"checkpoint-{name}-b*.npz"):
            io.Checkpoint(path, "").remove()
    return results


def main(argv: list[str] | None = None) -> int:
    import matplotlib

    matplotlib.use("Agg")
    try:
        cfg = parse_args(argv)
        results = run(cfg)
    except UsageError as err:
        print(f"full_rank.py: error: {err}", file=sys.stderr)
        return 2
    except ValueError as err:  # raised by library validation (e.g. --out)
        print(f"full_rank.py: error: {err}", file=sys.stderr)
        return 2
    cells = results["cells"]
    print(f"wrote {Path(cfg.out) / 'results.json'}: {len(cells)} cells, "
          f"{sum(c['trials'] for c in cells)} trials, "
          f"{results['metadata']['wall_time_s']:.1f} s; "
          f"re-decided on the host: {sum(c['host_refined'] for c in cells)} "
          f"({sum(c['svd_refined'] for c in cells)} by SVD), "
          f"near threshold: {sum(c['near_threshold'] for c in cells)}")
    if cfg.exact_check:
        ex = [c["exact"] for c in cells]
        print(f"exact generic rank of {sum(e['checked'] for e in ex)} trials: float full "
              f"but exactly deficient {sum(e['float_full_exact_deficient'] for e in ex)}; "
              f"float deficient but exactly full (s_n <= rtol*s_1 while J is nonsingular) "
              f"{sum(e['float_deficient_exact_full'] for e in ex)} in "
              f"{sum(e['float_deficient_exact_full'] > 0 for e in ex)} cells")
    return 0


if __name__ == "__main__":
    sys.exit(main())
