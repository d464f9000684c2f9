"""P(a random n×n 0/1 matrix is singular): the slides' Theorem 3, every decision exact.

Theorem 3 ([BVW10]): P(singular) = (1/√2 + o(1))ⁿ; Theorem 2 uses the bound C₁·0.72ⁿ.
Each trial draws an n×n matrix of iid fair 0/1 entries (``binary_matrix``) and takes
its rank modulo the prime p = 2³¹ − 1 on the device (vmapped Gauss–Jordan in int64):
rank_p = n proves the matrix non-singular over Q. The trials with rank_p < n are
redrawn on the host from their keys and decided by exact integer (Bareiss)
elimination, so no decision rests on a tolerance or on a prime. For n ≤ 4 the exact
probability (enumeration, ``theory.binary_singular_probability``) is reported beside
the estimate.
"""

from __future__ import annotations

import dataclasses
import sys

import jax
import jax.numpy as jnp
import numpy as np

from jaxnet import prng, runtime, stats
from jaxnet.rank import jacobian, theory
from jaxnet.runtime import config

SPEC = runtime.Spec(
    "binary_singularity",
    "slides, Theorem 3 ([BVW10]) and the C1*0.72^d bound of Theorem 2",
    arrays="ranks.npz",
    options=("out", "progress", "checkpoint_every", "stall_timeout"),
)
DEFAULT_N = tuple(range(1, 21)) + (24, 28, 32, 48, 64)


@dataclasses.dataclass(frozen=True)
class Config:
    """``trials`` random n×n 0/1 matrices for every n in ``n``, decided exactly."""

    n: tuple[int, ...] = config.field(
        DEFAULT_N, help="matrix sizes", check=config.ints()
    )
    trials: int = config.field(10000, help="matrices per size", check=config.count())
    exact_trials: int = config.field(
        1000000,
        help="matrices per size for n <= 4, whose exact probability checks the sampler",
        check=config.count(),
    )
    seed: int = config.seed()
    chunk: int = config.chunk(256, "matrices decided at once per device")

    def __post_init__(self):
        config.freeze(self)
        object.__setattr__(self, "n", tuple(sorted(set(self.n))))


def binary_matrix(key, n: int):
    """An n×n matrix of iid fair 0/1 entries (int64), drawn by ``jaxnet.prng``."""
    hi, _ = prng.stream_bits(key, {"a": (n, n)})["a"]
    return (hi >> 31).astype(jnp.int64)


def estimate(n: int, n_trials: int, ctx: runtime.Context, *, chunk: int) -> tuple:
    """``(row, ranks)``: the singular count, p with its Wilson interval, and how often
    the prime misjudged; ``ranks (n_trials,)`` the exact ranks."""
    seed = runtime.cell_seed("binary_singular", n)

    def trial(key, cell):
        return {"rank_p": jacobian.rank_mod_p(binary_matrix(key, n))}

    redraw = jax.jit(lambda key: binary_matrix(key, n))

    # Every minor of a k x k 0/1 matrix is at most (k+1)^((k+1)/2) / 2^k in absolute
    # value (Hadamard's bound on the bordered +-1 matrix); below p, no nonzero minor
    # vanishes mod p, so rank mod p is the rank over Q and nothing needs re-deciding.
    prime_exact = all(
        (k + 1) ** ((k + 1) / 2) / 2**k < jacobian.PRIMES[0] for k in range(1, n + 1)
    )

    def refine(keys, cell_idx, trial_idx, out):
        exact = out["rank_p"].copy()
        for u in np.flatnonzero(out["rank_p"] < n) if not prime_exact else ():
            exact[u] = jacobian.integer_rank(np.asarray(redraw(keys[u])))
        return {"rank_p": out["rank_p"], "rank": exact}

    out = ctx.device(
        trial,
        {"n": np.array([n])},
        np.array([seed], np.uint32),
        n_trials,
        chunk=chunk,
        desc=f"n={n}",
        refine_fn=refine,
    )
    rank = out["rank"][0]
    singular = int((rank < n).sum())
    lo, hi = stats.wilson_interval(singular, n_trials)
    row = {
        "n": n,
        "trials": n_trials,
        "singular": singular,
        "p": singular / n_trials,
        "p_ci95": [float(lo), float(hi)],
        "prime_misjudged": int((out["rank_p"][0] != rank).sum()),
    }
    return row, rank


def compute(cfg: Config, ctx: runtime.Context):
    rows, arrays = [], {}
    for n in cfg.n:
        row, arrays[f"n{n}"] = estimate(
            n, cfg.exact_trials if n <= 4 else cfg.trials, ctx, chunk=cfg.chunk
        )
        if n <= 4:
            exact = theory.binary_singular_probability(n)
            row["exact"] = float(exact)
            row["exact_fraction"] = f"{exact.numerator}/{exact.denominator}"
            row["exact_in_ci95"] = row["p_ci95"][0] <= float(exact) <= row["p_ci95"][1]
        row["theorem3_leading"] = float(theory.theorem3_leading(n))
        rows.append(row)
    # C1: exact values where known, else estimates resting on >= 10 singular draws.
    table = {
        r["n"]: r.get("exact", r["p"])
        for r in rows
        if "exact" in r or r["singular"] >= 10
    }
    body = {
        "decision": "exact: rank mod 2^31-1 on device; rank < n re-decided by Bareiss "
        "where a minor can reach 2^31-1 (Hadamard's bound)",
        "c1": theory.theorem2_c1(table),
        "c1_definition": "max over the table of p_n / 0.72^n (exact p for n <= 4, "
        "else the estimate, for n with >= 10 singular draws)",
        "cells": rows,
    }
    return body, arrays


def plot(results: dict, arrays: dict) -> dict:
    import matplotlib.pyplot as plt

    from jaxnet import plotting

    rows, c1 = results["cells"], results["c1"]
    ns = np.array([r["n"] for r in rows])
    p = np.array([r["p"] for r in rows])
    lo = np.array([r["p_ci95"][0] for r in rows])
    hi = np.array([r["p_ci95"][1] for r in rows])
    grid = np.linspace(1, ns.max(), 200)
    with plt.rc_context(plotting.STYLE):
        fig, ax = plt.subplots(figsize=(5.2, 3.6), constrained_layout=True)
        pos = p > 0
        ax.errorbar(
            ns[pos],
            p[pos],
            yerr=[p[pos] - lo[pos], hi[pos] - p[pos]],
            fmt="o",
            ms=3,
            label="estimate (Wilson 95%)",
        )
        ax.plot(
            ns[~pos],
            hi[~pos],
            "v",
            ms=4,
            color="C0",
            alpha=0.6,
            label="no singular draw: 95% upper bound",
        )
        exact = [(r["n"], r["exact"]) for r in rows if r.get("exact") is not None]
        if exact:
            ax.plot(*zip(*exact, strict=True), "k*", ms=7, label="exact (enumeration)")
        ax.plot(
            grid, theory.theorem3_leading(grid), "k--", lw=1, label=r"$(1/\sqrt{2})^n$"
        )
        ax.plot(
            grid,
            c1 * theory.THEOREM2_BASE**grid,
            "r:",
            lw=1.2,
            label=f"$C_1\\,0.72^n$, $C_1$={c1:.2f}",
        )
        ax.set_yscale("log")
        ax.set_xlabel("n")
        ax.set_ylabel("P(singular)")
        ax.set_title("Theorem 3: random 0/1 matrices")
        ax.legend(fontsize=7)
    return {"binary_singularity.png": fig}


def report(results: dict) -> str:
    lines = []
    for r in results["cells"]:
        extra = (
            f"  exact {r['exact_fraction']} (in CI: {r['exact_in_ci95']})"
            if "exact" in r
            else ""
        )
        lines.append(
            f"n={r['n']:3d}: {r['singular']:6d}/{r['trials']} singular, "
            f"p={r['p']:.4f} [{r['p_ci95'][0]:.4f}, {r['p_ci95'][1]:.4f}]  "
            f"(1/sqrt2)^n={r['theorem3_leading']:.2e}{extra}"
        )
    lines.append(f"C1 = {results['c1']:.3f}")
    return "\n".join(lines)


def singular_probability(
    *, out=None, progress: bool = False, **config
) -> runtime.Result:
    """Theorem 3 in one call. Keyword arguments are ``Config``'s fields.

    Example:
      >>> from jaxnet.experiments import binary_singularity
      >>> res = binary_singularity.singular_probability(n=range(1, 5), trials=2000,
      ...                                               exact_trials=2000)
      >>> res.column("p").round(3).tolist()  # exact: 0.5, 0.625, 0.660, 0.656
      [0.5, 0.616, 0.638, 0.672]
    """
    return runtime.run(
        sys.modules[__name__],
        Config(**config),
        runtime.Options(out=out, progress=progress),
    )
