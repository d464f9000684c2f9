"""Fraction of activation regions with a full-rank Jacobian: Theorems 2 and 9 of the slides.

Inside a region S_X^A the Jacobian is [(v ⊙ a⁽ʲ⁾) ⊗ x̃⁽ʲ⁾]_j for every W, and by
Lemma 4 its rank does not depend on v (all v_i ≠ 0), so a region is *good* (every
differentiable critical point a global minimum, Lemma 1) if rank [a⁽ʲ⁾ ⊗ x̃⁽ʲ⁾]_j = n.

- ``--theorem 2``: A uniform over all 2^{d1·n} patterns (empty regions included, as
  Theorem 2 counts them), X iid N(0, I_{d0}) with a bias coordinate; Theorem 2's width
  max(n/d0, log(C1(n+1)/(d0 ε))/log(1/0.72)) is drawn, with the C1 measured by
  ``scripts/binary_singularity.py`` (``--c1``).
- ``--theorem 9``: d0 = 1, X sorted iid N(0, 1) with a bias, A uniform over the
  non-empty regions (rows uniform step vectors, Lemma 8); Theorem 9's 2n·log(n/ε) drawn.

Rank is the exact *generic* rank, no tolerance: X is drawn with random integer entries
(generic with probability ≥ 1 − 2n/2^21 by the Schwartz–Zippel lemma, a Gaussian X
being generic almost surely), J is then an integer matrix, and its rank is computed
exactly modulo the prime 2^31 − 1 (``jaxnet.jacobian.rank_mod_p``); each step can only
lower the rank, with the same probability bounds.

Writes ``OUT/results.json`` and ``OUT/region_rank_thm<k>.png``.

Example:
  python scripts/region_rank.py --theorem 2 --out runs/thm2
"""

from __future__ import annotations

import _runtime  # noqa: E402  (scripts/ is on sys.path when a script runs)

_runtime.configure()

import argparse  # noqa: E402
import dataclasses
import sys
import time

DESCRIPTION = __doc__.split("\n\n")[0]
GRIDS = {2: {"n": list(range(5, 51, 5)), "d1": list(range(4, 41, 4)), "d0": 2},
         9: {"n": list(range(5, 51, 5)), "d1": list(range(10, 201, 19)), "d0": 1}}
# Theorem 2's C1: the smallest with P(n x n 0/1 singular) <= C1 * 0.72^n over the table
# of figures/thm3/results.json (scripts/binary_singularity.py, 10^4 trials per n; the
# maximum is at n = 12).
DEFAULT_C1 = 8.553


@dataclasses.dataclass(frozen=True)
class Config:
    theorem: int = 2
    d0: int = 0
    n: tuple[int, ...] = ()
    d1: tuple[int, ...] = ()
    trials: int = 100
    eps: float = 0.1
    c1: float = DEFAULT_C1
    seed: int = 0
    out: str = "runs/region_rank"


def parse_args(argv) -> Config:
    p = argparse.ArgumentParser(description=DESCRIPTION)
    p.add_argument("--theorem", type=int, choices=[2, 9], default=2)
    p.add_argument("--d0", type=int, default=None, help="input dimension (Theorem 2)")
    p.add_argument("--n", type=int, nargs="+", default=None)
    p.add_argument("--d1", type=int, nargs="+", default=None)
    p.add_argument("--trials", type=int, default=Config.trials)
    p.add_argument("--eps", type=float, default=Config.eps,
                   help="the theorems' epsilon for the drawn width")
    p.add_argument("--c1", type=float, default=Config.c1,
                   help="Theorem 2's C1 (default: measured, see binary_singularity.py)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=Config.out)
    a = p.parse_args(argv)
    for name in ("n", "d1"):
        vals = getattr(a, name)
        if vals is not None and (not vals or min(vals) <= 0):
            raise ValueError(f"--{name} must be a non-empty list of positive integers; "
                             f"got {vals}")
    if a.d0 is not None and (a.d0 <= 0 or (a.theorem == 9 and a.d0 != 1)):
        raise ValueError(f"--d0 must be a positive integer (1 for Theorem 9); got {a.d0}")
    if a.trials <= 0:
        raise ValueError(f"--trials must be a positive integer; got {a.trials}")
    if not 0 < a.eps < 1:
        raise ValueError(f"--eps must be in (0, 1); got {a.eps}")
    if not 0 < a.c1 < float("inf"):
        raise ValueError(f"--c1 must be finite and > 0; got {a.c1}")
    if a.seed < 0:
        raise ValueError(f"--seed must be >= 0; got {a.seed}")
    g = GRIDS[a.theorem]
    return Config(a.theorem, a.d0 or g["d0"], tuple(a.n or g["n"]), tuple(a.d1 or g["d1"]),
                  a.trials, a.eps, a.c1, a.seed, a.out)


def cell_trials(cfg: Config, n: int, d1: int, sizes, rank_fn):
    """Every trial of one cell: ``(full (T,) bool, rank (T,))``.

    X has iid integer entries uniform in [−2^20, 2^20) (sorted and distinct for
    Theorem 9) and J = [a⁽ʲ⁾ ⊗ x̃⁽ʲ⁾]_j is an integer matrix, padded with zeros to
    ``sizes``; ``rank_fn`` is its exact rank modulo p = 2^31 − 1.
    """
    import numpy as np

    from jaxnet import regions, sweep

    d0 = cfg.d0
    big_n, big_p = sizes
    jac = np.zeros((cfg.trials, big_n, big_p), np.int64)
    for t in range(cfg.trials):
        rng = np.random.default_rng(
            [cfg.seed, sweep.cell_seed("region_rank", cfg.theorem, d0, n, d1), t])
        x = rng.integers(-(2**20), 2**20, size=(n, d0))
        if cfg.theorem == 9:
            while len(np.unique(x)) < n:  # distinct points (a tie has prob < n^2/2^21)
                x = rng.integers(-(2**20), 2**20, size=(n, d0))
            x = np.sort(x, axis=0)
            pattern = regions.sample_steps(rng, d1, n)
        else:
            pattern = regions.sample_uniform(rng, d1, n)
        xt = np.concatenate([x, np.ones((n, 1), np.int64)], axis=1)
        kr = pattern.T[:, :, None].astype(np.int64) * xt[:, None, :]
        jac[t, :n, : d1 * (d0 + 1)] = kr.reshape(n, -1)
    rank = np.asarray(rank_fn(jac))
    return rank == n, rank


def main(argv=None) -> int:
    import matplotlib

    matplotlib.use("Agg")
    try:
        cfg = parse_args(argv)
        from jaxnet import io

        out = io.check_writable_dir(cfg.out)
    except ValueError as err:
        print(f"region_rank.py: error: {err}", file=sys.stderr)
        return 2
    import jax

    jax.config.update("jax_enable_x64", True)

    import jax.numpy as jnp

    from jaxnet import jacobian, plotting, stats, theory

    t0 = time.perf_counter()
    sizes = (max(cfg.n), max(cfg.d1) * (cfg.d0 + 1))
    # Rank of J^T (P x N): the elimination loops over the N <= P columns.
    rank_fn = jax.jit(jax.vmap(lambda j: jacobian.rank_mod_p(j.T)))
    cells, ranks = [], {}
    for n in cfg.n:
        for d1 in cfg.d1:
            full, rank = cell_trials(cfg, n, d1, sizes, lambda j: rank_fn(jnp.asarray(j)))
            k = int(full.sum())
            lo, hi = stats.wilson_interval(k, cfg.trials)
            cells.append({"panel": f"d0={cfg.d0}", "d0": cfg.d0, "n": n, "d1": d1,
                          "trials": cfg.trials, "full_rank": k, "p": k / cfg.trials,
                          "p_ci95": [float(lo), float(hi)]})
            ranks[f"n{n}_d1{d1}"] = rank
    if cfg.theorem == 2:
        name = f"Thm 2 width (C1={cfg.c1:g}, eps={cfg.eps:g})"
        curve = (name, lambda n: theory.theorem2_width(n, cfg.d0, cfg.eps, cfg.c1))
        population = "all 2^(d1 n) patterns (uniform)"
    else:
        curve = (f"Thm 9 width (eps={cfg.eps:g})", lambda n: theory.theorem9_width(n, cfg.eps))
        population = "non-empty regions of sorted 1-D data (rows uniform step vectors)"
    results = {
        "experiment": "region_rank", "document": f"slides, Theorem {cfg.theorem}",
        "config": dataclasses.asdict(cfg), "population": population,
        "rank_rule": "exact generic rank: X integer, uniform in [-2^20, 2^20); rank of "
                     "the integer Jacobian modulo 2^31-1 (<= its rank over Q <= the "
                     "generic rank; equality fails with probability <= 2n/2^21 per "
                     "trial by Schwartz-Zippel)",
        "widths": {"theorem2": "max(n/d0, log(C1 (n+1)/(d0 eps)) / log(1/0.72))",
                   "theorem9": "2 n log(n/eps)"},
        "metadata": io.run_metadata(time.perf_counter() - t0), "cells": cells,
    }
    io.write_npz(out / "ranks.npz", **ranks)
    io.write_json(out / "results.json", results)
    plotting.proportion_heatmaps(
        cells, out / f"region_rank_thm{cfg.theorem}.png",
        title=f"Theorem {cfg.theorem}: regions with full-rank Jacobian "
              f"({cfg.trials} regions/cell)",
        label="fraction of regions with rank J = n", curves={f"d0={cfg.d0}": curve})
    print(f"wrote {out / 'results.json'}: {len(cells)} cells, "
          f"{time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
