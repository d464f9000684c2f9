"""Fraction of activation regions with a full-rank Jacobian: the slides' Theorems 2 and 9.

Theorem 2: for regions drawn uniformly from all 2^(d1·n) patterns, P(rank J = n) ≥ 1 − ε
once d1 ≥ max(n/d0, log(C₁(n+1)/(d0·ε)) / log(1/0.72)). Theorem 9: for d0 = 1 and
regions drawn uniformly from the non-empty ones of sorted data (rows uniform step
vectors, Lemma 8), the same once d1 ≥ 2n·log(n/ε).

Ranks are exact generic ranks, no tolerance: X has iid integer entries uniform in
[−2^20, 2^20) (sorted and distinct for Theorem 9), so J = [a⁽ʲ⁾ ⊗ x̃⁽ʲ⁾]ⱼ is an integer
matrix; its rank modulo p = 2^31 − 1 (one trial per host-pool task) is ≤ its rank over Q ≤
the generic rank, with equality except with probability ≤ 2n/2^21 per trial
(Schwartz–Zippel). Lemma 4 (the rank does not depend on v) lets v be left out.
Instances are drawn on the host from each trial's key (``runtime.host_rng``).
"""

from __future__ import annotations

import dataclasses
import functools
import sys

import jax
import jax.numpy as jnp
import numpy as np

from jaxnet import regions, runtime, stats
from jaxnet.rank import jacobian, theory
from jaxnet.runtime import config

SPEC = runtime.Spec(
    "region_rank",
    "slides, Theorems 2 and 9",
    arrays="ranks.npz",
    options=runtime.HOST_OPTIONS,
)
GRIDS = {
    2: {"n": tuple(range(5, 51, 5)), "d1": tuple(range(4, 41, 4)), "d0": 2},
    9: {"n": tuple(range(5, 51, 5)), "d1": tuple(range(10, 201, 19)), "d0": 1},
}
# Theorem 2's C1: the smallest with P(n x n 0/1 singular) <= C1 * 0.72^n over the table
# of figures/thm3/results.json (binary_singularity, 10^4 trials per n; the maximum is
# at n = 12).
DEFAULT_C1 = 8.553


@dataclasses.dataclass(frozen=True)
class Config:
    """Empty ``n``/``d1`` and ``d0 = None`` take the theorem's grid."""

    theorem: int = config.field(2, choices=(2, 9), help="which theorem")
    d0: int | None = config.field(
        None, help="input dimension (Theorem 2; 1 for Theorem 9)", check=config.count()
    )
    n: tuple[int, ...] = config.axis("data-set sizes")
    d1: tuple[int, ...] = config.axis("hidden widths")
    trials: int = config.field(100, help="regions per cell", check=config.count())
    eps: float = config.field(
        0.1,
        help="the theorems' epsilon for the drawn width",
        check=config.OPEN_FRACTION,
    )
    c1: float = config.field(
        DEFAULT_C1,
        help="Theorem 2's C1 (default: measured by binary_singularity)",
        check=config.POSITIVE,
    )
    seed: int = config.seed()

    def __post_init__(self):
        config.freeze(self)
        if self.theorem == 9 and self.d0 not in (None, 1):
            raise ValueError(f"d0 must be 1 for Theorem 9; got {self.d0}")
        g = GRIDS[self.theorem]
        for name in ("d0", "n", "d1"):
            if getattr(self, name) in (None, ()):
                object.__setattr__(self, name, g[name])


def instance(rng: np.random.Generator, theorem: int, d0: int, n: int, d1: int):
    """The integer Jacobian ``(n, d1·(d0+1))`` of one region: X integer in
    [−2^20, 2^20) (sorted, distinct for Theorem 9) and its pattern."""
    x = rng.integers(-(2**20), 2**20, size=(n, d0))
    if theorem == 9:
        while len(np.unique(x)) < n:  # distinct points (a tie has prob < n^2/2^21)
            x = rng.integers(-(2**20), 2**20, size=(n, d0))
        x = np.sort(x, axis=0)
        pattern = regions.sample_steps(rng, d1, n)
    else:
        pattern = regions.sample_uniform(rng, d1, n)
    xt = np.concatenate([x, np.ones((n, 1), np.int64)], axis=1)
    return (pattern.T[:, :, None].astype(np.int64) * xt[:, None, :]).reshape(n, -1)


@functools.cache
def _rank_fn():
    # Rank of J^T (P x N): the elimination loops over the N <= P columns. int64
    # arithmetic: x64 on (a spawned worker starts without the parent's setting).
    jax.config.update("jax_enable_x64", True)
    return jax.jit(lambda j: jacobian.rank_mod_p(j.T))


def trial(rng, cell, t, *, theorem: int, d0: int, sizes: tuple):
    """One region of cell ``(n, d1)`` (host side): the rank modulo 2^31 − 1 of its
    integer Jacobian (``instance``), zero-padded to ``sizes`` (one compiled shape)."""
    del t
    n, d1 = cell
    jac = np.zeros(sizes, np.int64)
    jac[:n, : d1 * (d0 + 1)] = instance(rng, theorem, d0, n, d1)
    return {"rank": np.int32(_rank_fn()(jnp.asarray(jac)))}


def compute(cfg: Config, ctx: runtime.Context):
    sizes = (max(cfg.n), max(cfg.d1) * (cfg.d0 + 1))
    grid = [(n, d1) for n in cfg.n for d1 in cfg.d1]
    seeds = [
        runtime.cell_seed("region_rank", cfg.theorem, cfg.d0, n, d1) for n, d1 in grid
    ]
    out = ctx.host(
        trial,
        grid,
        seeds,
        cfg.trials,
        desc=f"Theorem {cfg.theorem}",
        static={"theorem": cfg.theorem, "d0": cfg.d0, "sizes": sizes},
    )
    cells, ranks = [], {}
    for (n, d1), rank in zip(grid, out["rank"], strict=True):
        k = int((rank == n).sum())
        lo, hi = stats.wilson_interval(k, cfg.trials)
        cells.append(
            {
                "panel": f"d0={cfg.d0}",
                "d0": cfg.d0,
                "n": n,
                "d1": d1,
                "trials": cfg.trials,
                "full_rank": k,
                "p": k / cfg.trials,
                "p_ci95": [float(lo), float(hi)],
            }
        )
        ranks[f"n{n}_d1{d1}"] = rank
    body = {
        "population": "all 2^(d1 n) patterns (uniform)"
        if cfg.theorem == 2
        else "non-empty regions of sorted 1-D data (rows uniform step vectors)",
        "rank_rule": "exact generic rank: X integer, uniform in [-2^20, 2^20); rank of "
        "the integer Jacobian modulo 2^31-1 (<= its rank over Q <= the "
        "generic rank; equality fails with probability <= 2n/2^21 per "
        "trial by Schwartz-Zippel)",
        "widths": {
            "theorem2": "max(n/d0, log(C1 (n+1)/(d0 eps)) / log(1/0.72))",
            "theorem9": "2 n log(n/eps)",
        },
        "cells": cells,
    }
    return body, ranks


def width(cfg: dict, n):
    """The theorem's sufficient width at ``n`` (``cfg``: results.json's config)."""
    if cfg["theorem"] == 2:
        return theory.theorem2_width(n, cfg["d0"], cfg["eps"], cfg["c1"])
    return theory.theorem9_width(n, cfg["eps"])


def plot(results: dict, arrays: dict) -> dict:
    from jaxnet import plotting

    cfg = results["config"]
    name = (
        f"Thm 2 width (C1={cfg['c1']:g}, eps={cfg['eps']:g})"
        if cfg["theorem"] == 2
        else f"Thm 9 width (eps={cfg['eps']:g})"
    )
    return {
        f"region_rank_thm{cfg['theorem']}.png": plotting.proportion_heatmaps(
            results["cells"],
            title=f"Theorem {cfg['theorem']}: regions with full-rank "
            f"Jacobian ({cfg['trials']} regions/cell)",
            label="fraction of regions with rank J = n",
            curves={f"d0={cfg['d0']}": (name, lambda n: width(cfg, n))},
        )
    }


def report(results: dict) -> str:
    return f"{len(results['cells'])} cells, {results['metadata']['wall_time_s']:.1f} s"


def probability(*, out=None, workers: int = 0, **config) -> runtime.Result:
    """Theorem 2 or 9 in one call. Keyword arguments are ``Config``'s fields.

    Example:
      >>> from jaxnet.experiments import region_rank
      >>> res = region_rank.probability(theorem=9, n=[5], d1=[10, 29], trials=20,
      ...                               workers=1)
      >>> res.column("p").tolist()
      [1.0, 1.0]
    """
    return runtime.run(
        sys.modules[__name__],
        Config(**config),
        runtime.Options(out=out, workers=workers),
    )
