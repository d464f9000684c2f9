"""Gradient descent from many random initializations at once: Lemma 1 in motion.

Beyond the documents (the slides' further topic "gradient descent"). A cell is (depth
L, d0, n, d1); a trial is one initialization, trained on its own random targets:

- data and network: the Figure-4 trial of the same key (``deep.trial_data``,
  ``models.mlp``: at L = 2 the paper convention's draws), y iid N(0, 1) from a
  separate counter stream of the key;
- loss L(θ) = (1/2n) Σ_j (F(θ, x_j) − y_j)², θ = every hidden layer [W_l | b_l] (v
  fixed, as in the slides), trained by optax's SGD on the full batch (gradient
  descent) with Nesterov momentum, step size ``lr``/λ_max(J₀ J₀ᵀ/n) from the trial's
  Jacobian at initialization, in segments of ``SEGMENT`` steps (one ``lax.scan``)
  inside a ``lax.while_loop`` until L ≤ ``loss_tol``·L(0 function) or ``steps``.

At every end point: the loss, the Jacobian's rank by Figure 4's float64 rule (singular
values of J, s_n > max(n, P)·eps·s_1) and the relative gradient
g_rel = ‖∇L‖·n/(s_1‖r‖) = ‖Jᵀr‖/(s_1‖r‖) (r the residual; ∇L = Jᵀr/n at any
differentiable point of any depth, so g_rel ≥ s_n/s_1). Lemma 1: at a critical point
with full-rank J the loss is zero. An end point is

- ``reached``: L ≤ loss_tol·L(0) (a global minimum, to that tolerance);
- ``critical``: not reached and g_rel ≤ ``grad_tol``; split by the rank of J:
  ``critical_deficient`` (a rank-deficient critical point) and ``critical_full``
  (full rank by the rule, possible only with s_n/s_1 ≤ g_rel ≤ grad_tol: counted as
  borderline, never hidden);
- ``budget``: neither (still descending when the step budget ended);
- ``diverged``: a non-finite loss.

The rank at initialization is recorded too: at L = 2 it is the Figure-4 decision of the
same trial, so the figure draws GD's success boundary over Figure 4's full-rank
boundary from the same trials, and over the global-minimum-region boundary of Figures
5/6 (``global_minima`` on the same grid, ``gm_regions`` regions per cell).

Length (about 530 lines): one experiment's four parts, with its compiled training
segment and the Lemma-1 classification of end points, which only it runs.
"""

from __future__ import annotations

import dataclasses
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.flatten_util import ravel_pytree

from jaxnet import models, prng, runtime, stats
from jaxnet.rank import deep, fig4
from jaxnet.regions import minima
from jaxnet.runtime import config

SEGMENT = 50  # steps per lax.scan between stopping checks
GRIDS = {
    1: {"n": tuple(range(5, 51, 5)), "d1": tuple(range(50, 501, 50))},
    2: {"n": tuple(range(10, 101, 10)), "d1": tuple(range(10, 101, 10))},
    5: {"n": tuple(range(10, 101, 10)), "d1": tuple(range(5, 51, 5))},
}
OUTCOMES = ("reached", "critical_deficient", "critical_full", "budget", "diverged")


def grid(d0: int) -> dict:
    """The default (n, d1) grid of an input dimension (10 × 10)."""
    return GRIDS.get(d0, GRIDS[5])


SPEC = runtime.Spec(
    "gradient_descent",
    "beyond the documents: the slides' further topic 'gradient descent' (Lemma 1)",
    arrays="trials.npz",
    options=("out", "progress", "checkpoint_every", "stall_timeout", "workers"),
    # Fields whose values can be rounding errors, equal to the bit only for
    # bit-identical arithmetic: grad_err = ‖∇L − Jᵀr‖·n/(s₁‖r‖) (~1e-17; a real
    # inconsistency is orders of magnitude above 1e-12), and s_n/s_1 of a numerically
    # rank-deficient Jacobian (~1e-17; below 1e-15 it is under every rank threshold
    # here, max(n, P)·eps ≥ 2.2e-15, and the decisions themselves compare exactly)
    audit_atol={"grad_err": 1e-12, "s_ratio": 1e-15, "s_ratio0": 1e-15},
)


@dataclasses.dataclass(frozen=True)
class Config:
    """Every (depth, d0, n, d1) cell, ``trials`` initializations each; empty ``n`` and
    ``d1`` take ``GRIDS``."""

    depth: tuple[int, ...] = config.field(
        (2,), help="weight layers L (2: the slides' network)", check=config.ints(2)
    )
    d0: tuple[int, ...] = config.field(
        (1, 2, 5), help="input dimensions", check=config.ints()
    )
    n: tuple[int, ...] = config.axis("data-set sizes (default: per d0)")
    d1: tuple[int, ...] = config.axis("hidden widths (default: per d0)")
    trials: int = config.field(
        100, help="initializations per cell", check=config.count()
    )
    steps: int = config.field(3000, help="step budget", check=config.count())
    lr: float = config.field(
        1.0, help="step size in units of 1/lambda_max(J0 J0^T/n)", check=config.POSITIVE
    )
    momentum: float = config.field(
        0.9,
        help="Nesterov momentum (0: plain GD)",
        check=config.real(low=0, high=1, high_open=True),
    )
    loss_tol: float = config.field(
        1e-4,
        help="reached iff L <= loss_tol * L(zero function)",
        check=config.OPEN_FRACTION,
    )
    grad_tol: float = config.field(
        1e-6,
        help="critical iff ||J^T r|| <= grad_tol * s_1 ||r||",
        check=config.OPEN_FRACTION,
    )
    gm_regions: int = config.field(
        20,
        help="regions per cell for the Figure 5/6 global-minimum boundary (0: none)",
        check=config.count(0),
    )
    seed: int = config.seed()
    chunk: int = config.chunk(100, "initializations trained at once per device")

    def __post_init__(self):
        config.freeze(self)

    def cells(self) -> list[dict]:
        return [
            {"depth": L, "d0": d0, "panel": f"d0={d0}", "n": n, "d1": d1}
            for L in self.depth
            for d0 in self.d0
            for n in (self.n or grid(d0)["n"])
            for d1 in (self.d1 or grid(d0)["d1"])
        ]


def targets(key, size: int):
    """y iid N(0, 1), ``(size,)``, from the key's ``prng.TARGET_STREAM`` (counter-based: the
    first n do not depend on ``size``)."""
    words = prng.block_bits(key, prng.TARGET_STREAM, jnp.zeros(1), jnp.arange(size))
    return prng.normal(words, jnp.float64)[0]


def device_fn(net: models.Network, sizes, cfg: Config):
    """``(key, cell) -> per-trial outputs`` of one initialization (module docstring)."""
    big_n, _ = sizes
    eps = jnp.finfo(jnp.float64).eps

    def one(key, cell):
        n, d0 = cell["n"], cell["d0"]
        xs, row_mask = deep.trial_data(key, n, d0, sizes)
        mask = row_mask.astype(jnp.float64)
        y = targets(key, big_n) * mask
        params, fixed = net.init(key, d0)

        def residual(p):
            return (models.apply_batch(net, p, fixed, xs) - y) * mask

        def loss(p):
            return 0.5 * jnp.sum(residual(p) ** 2) / n

        def rank_stats(p):
            j = models.flat_jacobian(net, p, fixed, xs) * mask[:, None]
            s = deep.singular_values(j)
            s_n = jnp.where(n <= s.shape[0], s[jnp.minimum(n, s.shape[0]) - 1], 0.0)
            rtol = jnp.maximum(n, cell["n_params"]) * eps
            return j, s[0], s_n / s[0], s_n > rtol * s[0]

        _, s1_0, ratio_0, full_0 = rank_stats(params)
        zero_loss = 0.5 * jnp.sum(y**2) / n
        opt = optax.sgd(
            cfg.lr * n / s1_0**2,
            momentum=cfg.momentum or None,
            nesterov=cfg.momentum > 0,
        )

        def segment(carry):
            p, state, steps, _ = carry

            def step(c, _):
                p, state = c
                grads = jax.grad(loss)(p)
                updates, state = opt.update(grads, state, p)
                return (optax.apply_updates(p, updates), state), None

            (p, state), _ = jax.lax.scan(step, (p, state), None, length=SEGMENT)
            return p, state, steps + SEGMENT, loss(p)

        def going(carry):
            value = carry[3]
            return (
                (carry[2] < cfg.steps)
                & (value > cfg.loss_tol * zero_loss)
                & jnp.isfinite(value)
            )

        p, _, steps, l_end = jax.lax.while_loop(
            going, segment, (params, opt.init(params), jnp.int32(0), loss(params))
        )
        j, s1, ratio, full = rank_stats(p)
        r = residual(p)
        g = ravel_pytree(jax.grad(loss)(p))[0]
        jtr = j.T @ r / n
        r_norm = jnp.linalg.norm(r)
        return {
            "loss0": loss(params) / zero_loss,
            "loss": l_end / zero_loss,
            "steps": steps,
            "full0": full_0,
            "s_ratio0": ratio_0,
            "full": full,
            "s_ratio": ratio,
            "g_rel": jnp.linalg.norm(g) * n / jnp.maximum(s1 * r_norm, 1e-300),
            # autodiff gradient against J^T r / n, on the scale s_1 ||r|| / n
            "grad_err": jnp.linalg.norm(g - jtr) * n / jnp.maximum(s1 * r_norm, 1e-300),
        }

    return one


def outcome(out: dict, cfg) -> np.ndarray:
    """Each trial's index into ``OUTCOMES`` (module docstring)."""
    loss, g_rel = out["loss"], out["g_rel"]
    reached = loss <= cfg["loss_tol"]
    critical = ~reached & (g_rel <= cfg["grad_tol"]) & np.isfinite(loss)
    code = np.full(loss.shape, 3, np.int8)  # budget
    code[reached] = 0
    code[critical & ~out["full"]] = 1
    code[critical & out["full"]] = 2
    code[~np.isfinite(loss)] = 4
    return code


def bound_violations(out: dict) -> np.ndarray:
    """End points with full-rank J (by the rule) and g_rel < s_n/s_1 (rel. 1e-6).

    g_rel ≥ s_n/s_1 is linear algebra given ∇L = Jᵀr/n; a violation would mean the
    gradient or the rank is computed wrong. Rank-deficient end points are left out:
    their computed s_n/s_1 is rounding (≈ 1e-16), and so is g_rel there."""
    return out["full"] & (out["g_rel"] < (1 - 1e-6) * out["s_ratio"])


CERT_MARGIN = 2.0  # full rank certified at an end point iff s_n/s_1 > CERT_MARGIN*rtol


def lemma1_test(cell: dict, out_c: dict, code_c: np.ndarray) -> dict:
    """Lemma 1 at the end points of one cell: among the critical end points that are
    not global minima (outcomes ``critical_*``), how many have a Jacobian of certified
    full rank (s_n/s_1 > ``CERT_MARGIN``·rtol, rtol = max(n, P)·eps₆₄: the SVD's
    rounding cannot make a singular J look that far from singular)? Lemma 1 predicts
    none. Also how close the critical ones came: max (s_n/s_1)/rtol."""
    rtol = max(cell["n"], cell["n_params"]) * np.finfo(np.float64).eps
    critical = (code_c == 1) | (code_c == 2)
    ratio = out_c["s_ratio"][critical] / rtol
    return {
        "critical_tested": int(critical.sum()),
        "critical_full_certified": int((ratio > CERT_MARGIN).sum()),
        "critical_max_s_ratio_over_rtol": float(ratio.max()) if ratio.size else None,
    }


def summarize(cells, out: dict, cfg) -> list[dict]:
    code = outcome(out, cfg)
    rows = []
    for c, cell in enumerate(cells):
        t = code.shape[1]
        k = int((code[c] == 0).sum())
        lo, hi = stats.wilson_interval(k, t)
        k0 = int(out["full0"][c].sum())
        lo0, hi0 = stats.wilson_interval(k0, t)
        loss = out["loss"][c]
        rows.append(
            {
                **{
                    key: cell[key]
                    for key in ("depth", "panel", "d0", "n", "d1", "n_params")
                },
                "trials": t,
                "reached": k,
                "p": k / t,
                "p_ci95": [float(lo), float(hi)],
                "outcomes": {
                    name: int((code[c] == i).sum()) for i, name in enumerate(OUTCOMES)
                },
                "full_rank_init": k0,
                "p_full_rank_init": k0 / t,
                "p_full_rank_init_ci95": [float(lo0), float(hi0)],
                "full_rank_end": int(out["full"][c].sum()),
                # Lemma 1: full rank at the end point and not a global minimum needs
                # g_rel >= s_n/s_1, so it is critical only when s_n/s_1 <= grad_tol.
                "full_rank_end_not_reached": int(
                    (out["full"][c] & (code[c] != 0)).sum()
                ),
                "loss_quantiles": [
                    float(q) for q in np.nanquantile(loss, [0.1, 0.5, 0.9])
                ],
                "median_steps": float(np.median(out["steps"][c])),
                "gradient_bound_violations": int(bound_violations(out)[c].sum()),
                "lemma1": lemma1_test(cell, {"s_ratio": out["s_ratio"][c]}, code[c]),
                "max_grad_err": float(np.nanmax(out["grad_err"][c])),
            }
        )
    return rows


def _gm_boundary(cfg: Config, ctx: runtime.Context) -> list[dict]:
    """Figures 5/6's fraction of regions with a global minimum on the GD grid: per d0,
    the Figure 5/6 engine (``jaxnet.regions.minima``) in a child context of its own
    (folder ``global_minima_d0=D``), with exactly the cells, keys and numbers of a
    standalone ``global_minima`` run of that config."""
    out = []
    for d0 in cfg.d0:
        g = grid(d0)
        gcfg = minima.Config(
            d0=(d0,),
            n=cfg.n or g["n"],
            d1=cfg.d1 or g["d1"],
            regions=cfg.gm_regions,
            check_reference=0,
            seed=cfg.seed,
        )
        # named as the standalone experiment: its parts are a global_minima run's
        sub = ctx.child(f"global_minima_d0={d0}", "global_minima", gcfg)
        found, _ = minima.run_config(sub, gcfg)
        out += found["cells"]
    return out


def compute(cfg: Config, ctx: runtime.Context):
    cells = cfg.cells()
    for c in cells:
        c["n_params"] = models.n_params(models.mlp, c["d0"], c["d1"], c["depth"])
    seeds = np.array(
        [fig4.column_seed("paper", c["n"], c["d0"]) for c in cells], np.uint32
    )
    groups = {}
    for i, c in enumerate(cells):
        groups.setdefault((c["depth"], c["d0"], c["d1"]), []).append(i)
    out, seconds = {}, {}
    for (depth, d0, d1), idx in groups.items():
        t0 = time.perf_counter()
        sub = [cells[i] for i in idx]
        sizes = (max(c["n"] for c in sub), d0)
        cols = {
            "n": np.array([c["n"] for c in sub], np.int32),
            "d0": np.array([c["d0"] for c in sub], np.int32),
            "n_params": np.array([c["n_params"] for c in sub], np.int32),
        }
        res = ctx.device(
            device_fn(models.mlp(d0, d1, depth), sizes, cfg),
            cols,
            seeds[idx],
            cfg.trials,
            chunk=cfg.chunk,
            desc=f"GD L={depth} d0={d0} m={d1}",
            mesh=runtime.lapack_mesh(),
        )
        for k, v in res.items():
            out.setdefault(k, np.zeros((len(cells), cfg.trials), v.dtype))[idx] = v
        key = f"L{depth}_d0={d0}"
        seconds[key] = seconds.get(key, 0.0) + time.perf_counter() - t0
    cfg_d = dataclasses.asdict(cfg)
    summary = summarize(cells, out, cfg_d)
    body = {
        "training": "full-batch GD (optax.sgd, Nesterov momentum) on L = (1/2n) sum (F - "
        "y)^2, y iid N(0,1), theta = hidden layers (v fixed), step lr / "
        "lambda_max(J0 J0^T / n); stop at L <= loss_tol * L(0) or the "
        f"budget (checked every {SEGMENT} steps)",
        "rank_rule": "s_n(J) > max(n, P) * eps(float64) * s_1(J), singular values of J",
        "outcomes": {
            "reached": "L <= loss_tol * L(0)",
            "critical_deficient": "not reached, g_rel <= grad_tol, rank J < n",
            "critical_full": "not reached, g_rel <= grad_tol, rank J = n "
            "(Lemma 1: only if s_n/s_1 <= g_rel; borderline)",
            "budget": "not reached, g_rel > grad_tol",
            "diverged": "loss not finite",
        },
        "metadata": {"sweep_seconds": seconds},
        "cells": summary,
    }
    if cfg.gm_regions:
        t0 = time.perf_counter()
        body["global_minima_cells"] = _gm_boundary(cfg, ctx)
        body["metadata"]["global_minima_seconds"] = time.perf_counter() - t0
    out["outcome"] = outcome(out, cfg_d)
    return body, out


def _boundary(cells, ns, d1s, key):
    """Per n, the d1 index (fractional, interpolated) where ``key`` first reaches 1/2."""
    ys = []
    for n in ns:
        ps = [
            next((c[key] for c in cells if c["n"] == n and c["d1"] == d), np.nan)
            for d in d1s
        ]
        y = np.nan
        for i, p in enumerate(ps):
            if p >= 0.5:
                y = i if i == 0 else i - 1 + (0.5 - ps[i - 1]) / (p - ps[i - 1] + 1e-12)
                break
        ys.append(y)
    return np.array(ys)


def plot(results: dict, arrays: dict) -> dict:
    """``gd_boundaries.png`` (GD success with the Figure 4 and 5/6 boundaries) and
    ``gd_losses.png`` (final loss distributions by outcome)."""
    import matplotlib.pyplot as plt

    from jaxnet import plotting

    cells = results["cells"]
    gm = results.get("global_minima_cells", [])
    panels = list(dict.fromkeys((c["depth"], c["panel"]) for c in cells))
    figs = {}
    with plt.rc_context(plotting.STYLE):
        fig, axes = plotting.axes_grid(1, len(panels), (3.6 * len(panels) + 0.6, 3.6))
        for ax, (depth, panel) in zip(axes[0], panels, strict=True):
            sub = [c for c in cells if c["panel"] == panel and c["depth"] == depth]
            ns, d1s = sorted({c["n"] for c in sub}), sorted({c["d1"] for c in sub})
            img = np.full((len(d1s), len(ns)), np.nan)
            for c in sub:
                img[d1s.index(c["d1"]), ns.index(c["n"])] = c["p"]
            im = ax.imshow(
                img, origin="lower", aspect="auto", cmap=plotting.CMAP, vmin=0, vmax=1
            )
            x = np.arange(len(ns))
            ax.plot(
                x, _boundary(sub, ns, d1s, "p"), "w-", lw=2, label="GD reaches 0 loss"
            )
            ax.plot(
                x,
                _boundary(sub, ns, d1s, "p_full_rank_init"),
                "r--",
                lw=1.5,
                label="full-rank J at init (Fig. 4)",
            )
            gsub = [c for c in gm if c["panel"] == panel]
            if gsub and depth == 2:
                ax.plot(
                    x,
                    _boundary(gsub, ns, d1s, "p"),
                    "k:",
                    lw=1.8,
                    label="region holds a global min (Fig. 5/6)",
                )
            ax.set_xticks(x, [str(n) for n in ns], rotation=90, fontsize=7)
            ax.set_yticks(range(len(d1s)), [str(d) for d in d1s], fontsize=7)
            ax.set(xlabel="n", ylabel="$d_1$", title=f"L = {depth}, {panel}")
            ax.legend(fontsize=6, loc="upper left")
        fig.colorbar(im, ax=axes[0].tolist(), label="P(GD reaches a global min)")
        cfg = results["config"]
        fig.suptitle(
            f"gradient descent, {cfg['trials']} initializations/cell, "
            f"{cfg['steps']} steps;\nlines: p = 1/2",
            fontsize=9,
        )
        figs["gd_boundaries.png"] = fig

        fig, axes = plotting.axes_grid(1, len(panels), (3.4 * len(panels), 3.0))
        outcome_arr = arrays["outcome"]
        loss = arrays["loss"]
        for ax, (depth, panel) in zip(axes[0], panels, strict=True):
            idx = [
                i
                for i, c in enumerate(cells)
                if c["panel"] == panel and c["depth"] == depth
            ]
            vals = np.log10(np.maximum(loss[idx], 1e-20))
            bins = np.linspace(-12, 1, 40)
            for i, name in enumerate(OUTCOMES[:4]):
                sel = vals[outcome_arr[idx] == i]
                if sel.size:
                    ax.hist(sel, bins=bins, alpha=0.6, label=f"{name} ({sel.size})")
            ax.set(
                xlabel="log10 final L / L(0)",
                ylabel="trials",
                title=f"L = {depth}, {panel}",
            )
            ax.legend(fontsize=6)
        figs["gd_losses.png"] = fig
    return figs


def report(results: dict) -> str:
    cells = results["cells"]
    tot = {name: sum(c["outcomes"][name] for c in cells) for name in OUTCOMES}
    return (
        f"{runtime.report_head(results, 'trials', 'runs')}; outcomes {tot}; "
        "gradient-bound "
        f"violations {sum(c['gradient_bound_violations'] for c in cells)}"
    )


def train(
    *, out=None, progress: bool = False, workers: int = 0, **config
) -> runtime.Result:
    """The gradient-descent experiment in one call. Keyword arguments are ``Config``'s.

    Example:
      >>> from jaxnet.experiments import gradient_descent
      >>> res = gradient_descent.train(d0=[2], n=[10], d1=[10, 40], trials=5,
      ...                              steps=200, gm_regions=0, workers=1)
      >>> [o["budget"] for o in res.column("outcomes")]  # 200 steps: all still descending
      [5, 5]
    """
    return runtime.run(
        sys.modules[__name__],
        Config(**config),
        runtime.Options(out=out, progress=progress, workers=workers),
    )
