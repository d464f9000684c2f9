"""Figure 4 at any depth: P(rank J = n) at a random initialization of a depth-L network.

Beyond the documents (the slides' further topic "deep networks"). A cell is (depth L,
panel, n, d0, m): n data points x iid N(0, I_{d0}) (the ``paper`` convention's law),
a network of ``--model`` (``jaxnet.models``; default the ReLU MLP with L − 1 hidden
layers of width m) drawn from the trial's key, and its Jacobian J = ∂F(θ, x_j)/∂θ
(n × P, θ: every ``nnx.Param``, i.e. all hidden layers [W_l | b_l]; v fixed) by
``vmap(jacrev)`` (over the n points) in one jitted program per (L, m, panel family),
whose trials run one after another on their device (``lax.map``): with the trials
vmapped too, XLA:CPU (jax 0.10.2) intermittently never finished a block of the
d0 = ⌈ratio·n⌉ panels (every thread idle, the host waiting on a result; with Eigen
single- or multi-threaded; J of 100 × 1530 and larger), and a trial's numbers then
also depend on its chunk's size.

Trials. The key of trial t of a cell is the Figure-4 key of (n, d0)
(``full_rank.grid_seeds`` of the paper convention): every depth and width of a column
sees the same data, and at L = 2 the ``mlp`` model's trial *is* the Figure-4 trial, so
the two engines can be compared decision by decision (``--check-fig4``).

Rank rule (Figure 4's, float64): full rank iff s_n(J) > rtol·s_1(J), rtol = max(n,
P)·eps(float64). Decided on the device from G = J Jᵀ by ``jacobian.full_rank_certificate``
(certified decisions hold for every tolerance in [rtol/β, rtol·β]); the trials it
leaves ambiguous are re-decided by the singular values of J (Householder QR of Jᵀ, then
the SVD of the n × n factor), their s_n/s_1 saved, and those within a factor β of rtol
counted as near threshold. Padding (rows beyond n, input coordinates beyond d0) only
adds zero rows and columns, which change no singular value but zeros.

Length (about 530 lines): one experiment's four parts, with the depth-L certificate unit
(``device_fn``) and its host refinement, which only this experiment runs.
"""

from __future__ import annotations

import dataclasses
import math
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

from jaxnet import models, runtime
from jaxnet.rank import fig4, jacobian
from jaxnet.rank.deep import singular_values, trial_data  # noqa: F401  (re-exported)
from jaxnet.runtime import config

DEFAULT_WIDTHS = {
    2: tuple(range(30, 301, 30)),
    3: tuple(range(6, 49, 6)),
    4: tuple(range(4, 33, 4)),
}
D0_N = tuple(range(10, 101, 10))
RATIO_N = tuple(range(10, 101, 10))
REFINE_BATCH = 32
CHUNK_BYTES = (
    64 << 20
)  # trials per compiled call: their Jacobians (x3) within this (trials
# run one after another, so it bounds the work between checkpoints and watchdog beats)


def default_widths(depth: int) -> tuple[int, ...]:
    """The width grid of a depth: Figure 4's at L = 2; for L ≥ 3 widths whose
    parameter counts reach P ≈ 20-30 n at n = 100 (8 widths: each width is one
    compiled program)."""
    if depth in DEFAULT_WIDTHS:
        return DEFAULT_WIDTHS[depth]
    step = max(1, round(12 / (depth - 1)))
    return tuple(range(step, 8 * step + 1, step))


SPEC = runtime.Spec(
    "deep_rank",
    "beyond the documents: the slides' further topic 'deep networks' (Figure 4 at "
    "depth L)",
    arrays="trials.npz",
    options=("out", "progress", "checkpoint_every", "stall_timeout"),
)


@dataclasses.dataclass(frozen=True)
class Config:
    """Every (depth, panel, n, width) cell, ``trials`` trials each. Empty ``n`` and
    ``width`` take the default grids (``D0_N``/``RATIO_N``, ``default_widths``)."""

    model: str = config.field(
        "mlp",
        choices=models.MODELS,
        help="network builder (jaxnet.models; register your own flax model)",
    )
    depth: tuple[int, ...] = config.field(
        (2, 3, 4),
        help="weight layers L (L = 2: the slides' network)",
        check=config.ints(2),
    )
    d0: tuple[int, ...] = config.field(
        (1, 2), help="fixed input dimensions", check=config.ints(allow_empty=True)
    )
    ratio: tuple[float, ...] = config.field(
        (),
        help="d0 = ceil(ratio*n) panels",
        check=config.reals(low=0, low_open=True, allow_empty=True),
    )
    n: tuple[int, ...] = config.axis("data-set sizes (default 10..100)")
    width: tuple[int, ...] = config.axis("hidden width per layer (default: per depth)")
    trials: int = config.field(100, help="trials per cell", check=config.count())
    seed: int = config.seed()
    chunk: int = config.chunk(
        256,
        help="at most this many trials evaluated at once per "
        "device (fewer where their Jacobians would exceed 64 MiB; "
        "recorded)",
    )
    beta: float = config.field(
        2.0,
        help="certification margin (Figure 4's)",
        check=config.real(low=math.sqrt(2)),
    )
    check_fig4: bool = config.field(
        True,
        help="at depth 2 (mlp model), decide the same "
        "trials with the Figure-4 engine and count "
        "disagreements",
    )

    def __post_init__(self):
        config.freeze(self)
        if not self.d0 and not self.ratio:
            raise ValueError("give d0 or ratio (both are empty)")

    def widths(self, depth: int) -> tuple[int, ...]:
        return self.width or default_widths(depth)

    def panels(self):
        """``(family, panel name, d0_of(n), n values)``."""
        out = [("d0", f"d0={d}", lambda n, d=d: d, self.n or D0_N) for d in self.d0]
        out += [
            (
                "ratio",
                f"ratio={r:g}",
                lambda n, r=r: fig4.ratio_d0(r, n),
                self.n or RATIO_N,
            )
            for r in self.ratio
        ]
        return out


def cells_of(cfg: Config) -> list[dict]:
    """Every cell of ``cfg`` with its parameter count and rank tolerance."""
    build = models.get_model(cfg.model)
    eps = float(np.finfo(np.float64).eps)
    out = []
    for depth in cfg.depth:
        for family, panel, d0_of, ns in cfg.panels():
            for n in ns:
                d0 = d0_of(n)
                for m in cfg.widths(depth):
                    p = models.n_params(build, d0, m, depth)
                    out.append(
                        {
                            "depth": depth,
                            "family": family,
                            "panel": panel,
                            "n": n,
                            "d0": d0,
                            "d1": m,
                            "n_params": p,
                            "rtol": max(n, p) * eps,
                        }
                    )
    return out


def trial_fn(net: models.Network, sizes):
    """``(key, n, d0) -> (xs, row_mask, params, fixed, J)``: a trial's data, network and
    ``(N, P)`` masked Jacobian."""

    def trial(key, n, d0):
        xs, row_mask = trial_data(key, n, d0, sizes)
        params, fixed = net.init(key, d0)
        j = models.flat_jacobian(net, params, fixed, xs) * row_mask[:, None]
        return xs, row_mask, params, fixed, j

    return trial


def jacobian_fn(net: models.Network, sizes):
    """``(key, n, d0) -> (N, P)`` masked Jacobian of a trial."""
    trial = trial_fn(net, sizes)
    return lambda key, n, d0: trial(key, n, d0)[-1]


def device_fn(
    net: models.Network,
    sizes,
    beta: float,
    cholesky: str = "lapack",
    deficient_test: bool = True,
):
    """``(key, cell) -> {'code', 's_upper'}``: the Gram certificate of one trial
    (``cholesky``: ``jacobian.default_cholesky``; ``deficient_test``: its Gram
    deficiency test, which cannot fire in float64 at these sizes:
    ``jacobian.deficient_test_can_fire``), then, where it is ambiguous and the
    network has activation patterns, ``jacobian.pattern_deficiency`` (``s_upper``: its
    bound on s_n/s_1 where it certified, NaN elsewhere)."""
    trial = trial_fn(net, sizes)

    def one(key, cell):
        xs, row_mask, params, fixed, j = trial(key, cell["n"], cell["d0"])
        cert = jacobian.full_rank_certificate(
            j @ j.T,
            cell["n"],
            cell["n_params"],
            cell["rtol"],
            row_mask=row_mask,
            beta=beta,
            cholesky=cholesky,
            deficient_test=deficient_test,
        )
        code, s_upper = cert.code, jnp.full((), jnp.nan, j.dtype)
        if net.pattern is not None:
            bits = jax.vmap(net.pattern, in_axes=(None, None, 0))(params, fixed, xs)
            hit, bound = jacobian.pattern_deficiency(
                j,
                xs,
                bits,
                cell["n"],
                cell["d0"],
                cell["rtol"],
                row_mask=row_mask,
                beta=beta,
            )
            hit = hit & (code == jacobian.AMBIGUOUS)
            code = jnp.where(hit, jnp.int8(jacobian.PATTERN_DEFICIENT), code)
            s_upper = jnp.where(hit, bound, s_upper)
        return {"code": code, "s_upper": s_upper}

    return one


def make_refine(net, sizes, cols):
    """Host step of ``runtime.run_device``: re-decide AMBIGUOUS trials by the singular
    values of J; adds ``s_ratio`` (s_n/s_1, NaN where not computed)."""
    jac = jacobian_fn(net, sizes)
    n_of, d0_of = jnp.asarray(cols["n"]), jnp.asarray(cols["d0"])
    svals = jax.jit(
        jax.vmap(lambda key, c: singular_values(jac(key, n_of[c], d0_of[c])))
    )

    def refine(keys, cell_idx, trial_idx, out):
        code = out["code"].astype(np.int8).copy()
        s_ratio = np.full(code.shape, np.nan)
        todo = np.flatnonzero(code == jacobian.AMBIGUOUS)
        for start in range(0, len(todo), REFINE_BATCH):
            sel = todo[start : start + REFINE_BATCH]
            pad = np.concatenate([sel, np.repeat(sel[:1], REFINE_BATCH - len(sel))])
            s = np.asarray(svals(keys[pad], jnp.asarray(cell_idx[pad], jnp.int32)))
            for u, sv in zip(sel, s[: len(sel)], strict=False):
                c = cell_idx[u]
                n, rtol = int(cols["n"][c]), float(cols["rtol"][c])
                rank = int(np.sum(sv > rtol * sv[0])) if sv[0] > 0 else 0
                s_ratio[u] = sv[n - 1] / sv[0] if sv[0] > 0 else 0.0
                code[u] = jacobian.SVD_FULL if rank == n else jacobian.SVD_DEFICIENT
        return {"code": code, "s_ratio": s_ratio, "s_upper": out["s_upper"]}

    return refine


def _groups(cells):
    """Cell indices per compiled program: one per (depth, width, panel family)."""
    groups = {}
    for i, c in enumerate(cells):
        groups.setdefault((c["depth"], c["d1"], c["family"]), []).append(i)
    return groups


def summarize(cells, codes, s_ratio, beta: float) -> list[dict]:
    """Per-cell counts (Figure 4's ``cell_counts``) plus depth, total width and P/n."""
    return [
        {
            **{
                k: cell[k]
                for k in ("depth", "panel", "n", "d0", "d1", "n_params", "rtol")
            },
            "total_width": (cell["depth"] - 1) * cell["d1"],
            **fig4.cell_counts(codes[c], s_ratio[c], cell["rtol"], beta),
        }
        for c, cell in enumerate(cells)
    ]


def thresholds(cells: list[dict]) -> list[dict]:
    """Per (depth, panel, n): the smallest grid width with p ≥ 1/2 (None if none), as
    width per layer, total hidden units and parameters P (and P/n)."""
    rows = {}
    for c in cells:
        rows.setdefault((c["depth"], c["panel"], c["n"]), []).append(c)
    out = []
    for (depth, panel, n), sub in rows.items():
        hit = next(
            (c for c in sorted(sub, key=lambda c: c["d1"]) if c["p"] >= 0.5), None
        )
        out.append(
            {
                "depth": depth,
                "panel": panel,
                "n": n,
                "width": hit and hit["d1"],
                "total_width": hit and hit["total_width"],
                "n_params": hit and hit["n_params"],
                "params_per_point": hit and hit["n_params"] / n,
                "grid_max_width": max(c["d1"] for c in sub),
            }
        )
    return out


def _fig4_check(cfg: Config, ctx: runtime.Context, cells, codes):
    """Depth-2 cells decided again by the Figure-4 engine on the same keys."""
    full = np.isin(codes, jacobian.FULL_CODES)
    report = {}
    for family in ("d0", "ratio"):
        idx = [
            i for i, c in enumerate(cells) if c["depth"] == 2 and c["family"] == family
        ]
        if not idx:
            continue
        sub = [cells[i] for i in idx]
        grid = fig4.make_grid(
            "paper",
            d0_values=sorted({c["d0"] for c in sub}) if family == "d0" else [],
            ratios=list(cfg.ratio) if family == "ratio" else [],
            n_values=sorted({c["n"] for c in sub}),
            d1_values=sorted({c["d1"] for c in sub}),
            rank_dtype="float64",
        )
        res = fig4.run_grid(
            "paper",
            grid,
            cfg.trials,
            ctx=ctx,
            family=f"fig4_{family}",
            chunk=64,
            rank_dtype="float64",
            beta=cfg.beta,
        )
        ref_full = np.isin(res["code"], jacobian.FULL_CODES)
        pos = {
            (str(p), int(n), int(d1)): k
            for k, (p, n, d1) in enumerate(
                zip(grid.panel, grid.n, grid.d1, strict=True)
            )
        }
        mine = np.stack([full[i] for i in idx])
        theirs = np.stack([ref_full[pos[(c["panel"], c["n"], c["d1"])]] for c in sub])
        report[family] = {
            "decisions": int(mine.size),
            "disagree": int((mine != theirs).sum()),
        }
    return report


def compute(cfg: Config, ctx: runtime.Context):
    build = models.get_model(cfg.model)
    cells = cells_of(cfg)
    seeds_all = np.array(
        [fig4.column_seed("paper", c["n"], c["d0"]) for c in cells], np.uint32
    )
    codes = np.zeros((len(cells), cfg.trials), np.int8)
    s_ratio = np.full((len(cells), cfg.trials), np.nan)
    s_upper = np.full((len(cells), cfg.trials), np.nan)
    seconds, chunks = {}, {}
    # batched LAPACK (potrf) in the trial: one device where a process has several CPU
    # devices (runtime.lapack_mesh)
    mesh = runtime.lapack_mesh()
    for (depth, m, family), idx in _groups(cells).items():
        t0 = time.perf_counter()
        sub = [cells[i] for i in idx]
        sizes = (max(c["n"] for c in sub), max(c["d0"] for c in sub))
        net = build(sizes[1], m, depth)
        p_pad = models.n_params(build, sizes[1], m, depth)
        chunk = max(1, min(cfg.chunk, CHUNK_BYTES // (3 * 8 * sizes[0] * p_pad)))
        chunks[f"L{depth}_m{m}_{family}"] = chunk
        cols = {
            "n": np.array([c["n"] for c in sub], np.int32),
            "d0": np.array([c["d0"] for c in sub], np.int32),
            "n_params": np.array([c["n_params"] for c in sub], np.int32),
            "rtol": np.array([c["rtol"] for c in sub], np.float64),
        }
        gram_deficient = jacobian.deficient_test_can_fire(
            float(cols["rtol"].max()), int(cols["n"].min()), cfg.beta
        )
        out = ctx.device(
            device_fn(net, sizes, cfg.beta, deficient_test=gram_deficient),
            cols,
            seeds_all[idx],
            cfg.trials,
            chunk=chunk,
            mesh=mesh,
            desc=f"L={depth} m={m} {family}",
            sequential=True,
            refine_fn=make_refine(net, sizes, cols),
        )
        codes[idx], s_ratio[idx] = out["code"], out["s_ratio"]
        s_upper[idx] = out["s_upper"]
        key = f"L{depth}"
        seconds[key] = seconds.get(key, 0.0) + time.perf_counter() - t0
    summary = summarize(cells, codes, s_ratio, cfg.beta)
    body = {
        "network": "F(x) = v^T h_{L-1}, h_l = relu(W_l h_{l-1} + b_l); J wrt every "
        "hidden layer [W_l | b_l] (v fixed), by vmap(jacrev)",
        "initialization": "mlp: layer 1 [w|b] and v iid N(0,1) (the Figure-4 draws of "
        "the same key); layers l >= 2 [W_l|b_l] iid N(0, 2/(m+1))"
        if cfg.model == "mlp"
        else f"{cfg.model}: its own initializers",
        "rank_rule": "full rank iff s_n(J) > rtol * s_1(J), rtol = max(n, P) * "
        "eps(float64); Gram/Cholesky certificates with margin beta, the "
        "rest by the singular values of J (QR of J^T, SVD of R)",
        "thresholds": thresholds(summary),
        "metadata": {"sweep_seconds": seconds, "chunks": chunks},
        "cells": summary,
    }
    if cfg.check_fig4 and cfg.model == "mlp" and 2 in cfg.depth:
        t0 = time.perf_counter()
        body["fig4_check"] = _fig4_check(cfg, ctx, cells, codes)
        body["metadata"]["fig4_check_seconds"] = time.perf_counter() - t0
    return body, {"code": codes, "s_ratio": s_ratio, "s_upper": s_upper}


def plot(results: dict, arrays: dict) -> dict:
    """``deep_rank_L<depth>.png`` heatmaps and ``deep_rank_thresholds.png``."""
    import matplotlib.pyplot as plt

    from jaxnet import plotting

    cfg = results["config"]
    cells = results["cells"]
    figs = {}
    for depth in cfg["depth"]:
        sub = [c for c in cells if c["depth"] == depth]
        figs[f"deep_rank_L{depth}.png"] = plotting.full_rank_heatmaps(
            sub,
            title=f"depth L = {depth} ({depth - 1} hidden layers of width $d_1$), "
            f"{cfg['model']}, {cfg['trials']} trials/cell",
        )
    rows = results["thresholds"]
    panels = list(dict.fromkeys(r["panel"] for r in rows))
    with plt.rc_context(plotting.STYLE):
        fig, axes = plotting.axes_grid(2, len(panels), (3.4 * len(panels) + 0.5, 5.6))
        for j, panel in enumerate(panels):
            for depth in cfg["depth"]:
                pts = [
                    r
                    for r in rows
                    if r["panel"] == panel
                    and r["depth"] == depth
                    and r["width"] is not None
                ]
                ns = [r["n"] for r in pts]
                for row, key in enumerate(("total_width", "params_per_point")):
                    ys = [r[key] for r in pts]
                    axes[row, j].plot(ns, ys, "o-", ms=3, label=f"L = {depth}")
            axes[0, j].set(
                title=panel, xlabel="n", ylabel="total hidden units at p = 1/2"
            )
            axes[1, j].set(xlabel="n", ylabel="P / n at p = 1/2")
            axes[1, j].axhline(1, color="k", lw=0.8, ls=":")
            axes[0, j].legend(fontsize=7)
        fig.suptitle(
            "smallest grid width with P(rank J = n) >= 1/2 (missing: not "
            "reached on the grid)"
        )
    figs["deep_rank_thresholds.png"] = fig
    return figs


def report(results: dict) -> str:
    cells = results["cells"]
    line = (
        f"{runtime.report_head(results)}; decided by SVD "
        f"{sum(c['svd_refined'] for c in cells)}, near threshold "
        f"{sum(c['near_threshold'] for c in cells)}"
    )
    chk = results.get("fig4_check")
    if chk:
        line += "; Figure-4 engine at L = 2: " + ", ".join(
            f"{f} {v['disagree']}/{v['decisions']} disagree" for f, v in chk.items()
        )
    return line


def probability(*, out=None, progress: bool = False, **config) -> runtime.Result:
    """Depth-L Figure 4 in one call. Keyword arguments are ``Config``'s fields.

    Example:
      >>> from jaxnet.experiments import deep_rank
      >>> res = deep_rank.probability(depth=[2, 3], d0=[2], ratio=[], n=[10],
      ...                             width=[5, 10], trials=20)
      >>> res.column("p").tolist()
      [0.3, 0.85, 0.55, 1.0]
    """
    return runtime.run(
        sys.modules[__name__],
        Config(**config),
        runtime.Options(out=out, progress=progress),
    )
