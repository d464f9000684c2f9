"""The slides' Figures 1 and 3, drawn from computed regions and vertices.

Figure 1: the fan of activation regions of one ReLU in its two-dimensional parameter
space (w, b) for a few one-dimensional data points, each region labelled with its
activation pattern. Figure 3: the functions one ReLU represents on n = 3 and n = 4
sorted one-dimensional points (Proposition 12): a polyhedral cone, drawn as its
cross-section {Σ_j f_j = 1}, a polyline through the computed vertices (the functions
with a breakpoint on a data point). The points of Figure 3 are drawn from the run's
key. ``results.json`` holds the sectors, vertices and patterns drawn.
"""

from __future__ import annotations

import dataclasses
import sys

import numpy as np

from jaxnet import data, regions, runtime
from jaxnet.runtime import config

SPEC = runtime.Spec("region_figures", "slides, Figures 1 and 3", arrays="figures.npz")


@dataclasses.dataclass(frozen=True)
class Config:
    """Figure 1's data points ``x``; Figure 3's points are drawn from ``seed``."""

    x: tuple[float, ...] = config.field(
        (-1.0, 0.5, 2.0),
        help="the data points of Figure 1 (distinct)",
        check=config.reals(),
    )
    seed: int = config.field(
        0, help="base PRNG seed (Figure 3's points)", check=config.SEED
    )

    def __post_init__(self):
        config.freeze(self)
        if len(set(self.x)) != len(self.x):
            raise ValueError(f"x must be distinct finite numbers; got {list(self.x)}")


def compute(cfg: Config, ctx: runtime.Context):
    x = np.sort(np.array(cfg.x))
    xt = np.stack([x, np.ones_like(x)], axis=1)
    record = {"fig1": {"x": x, "sectors": regions.fan(xt)}, "fig3": {}}
    for n in (3, 4):
        key = runtime.trial_key(ctx.base_key, runtime.cell_seed(SPEC.name, n), 0)
        pts = np.sort(np.asarray(data.gaussian(key, n, 1))[:, 0])
        _, verts, pats = regions.relu_function_curve(pts)
        record["fig3"][f"n={n}"] = {"x": pts, "vertices": verts, "patterns": pats}
    return record, {}


def _simplex_coords(n):
    """Vertices of a regular (n−1)-simplex in R^(n−1) (n = 3: triangle; 4: tetrahedron)."""
    if n == 3:
        return np.array([[0.0, 0.0], [1.0, 0.0], [0.5, np.sqrt(3) / 2]])
    return np.array([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]], float)


def plot(results: dict, arrays: dict) -> dict:
    import matplotlib.pyplot as plt

    from jaxnet import plotting

    figs = {}
    x = np.sort(np.array(results["fig1"]["x"]))
    xt = np.stack([x, np.ones_like(x)], axis=1)
    sectors = results["fig1"]["sectors"]
    with plt.rc_context(plotting.STYLE):
        fig, ax = plt.subplots(figsize=(4.6, 4.6), constrained_layout=True)
        cmap = plt.get_cmap("tab10")
        for k, s in enumerate(sectors):
            th = np.linspace(*s["angles"], 50)
            ax.fill(
                np.r_[0, np.cos(th)],
                np.r_[0, np.sin(th)],
                color=cmap(k % 10),
                alpha=0.35,
                lw=0,
            )
            mid = np.mean(s["angles"])
            ax.text(
                0.68 * np.cos(mid),
                0.68 * np.sin(mid),
                "".join(map(str, s["pattern"])),
                ha="center",
                va="center",
                fontsize=9,
            )
        for j, p in enumerate(xt):
            d = np.array([-p[1], p[0]]) / np.linalg.norm(p)
            ax.plot([-d[0], d[0]], [-d[1], d[1]], "k-", lw=1)
            ax.text(1.05 * d[0], 1.05 * d[1], f"$H_{j + 1}$", fontsize=8)
        ax.set_xlim(-1.2, 1.2)
        ax.set_ylim(-1.2, 1.2)
        ax.set_aspect("equal")
        ax.set_xlabel("w")
        ax.set_ylabel("b")
        ax.set_title(
            f"Fan of activation regions of one ReLU, x = {x.tolist()}\n"
            "(pattern: which points are active)",
            fontsize=9,
        )
        figs["fig1_region_fan.png"] = fig

    with plt.rc_context(plotting.STYLE):
        fig = plt.figure(figsize=(9, 4.2), constrained_layout=True)
        for k, n in enumerate((3, 4)):
            pts = np.sort(np.asarray(results["fig3"][f"n={n}"]["x"]))
            curve, verts, pats = regions.relu_function_curve(pts)
            corners = _simplex_coords(n)
            c2, v2 = curve @ corners, verts @ corners
            if n == 3:
                ax = fig.add_subplot(1, 2, k + 1)
                ax.plot(*np.r_[corners, corners[:1]].T, color="0.7", lw=0.8)
                ax.plot(*c2.T, ".", ms=1, color="C0")
                ax.plot(*v2.T, "-", color="C1", lw=1)
                ax.plot(*v2.T, "ko", ms=4)
                for v, pat in zip(v2, pats, strict=True):
                    ax.annotate(
                        "".join(map(str, pat)),
                        v,
                        fontsize=7,
                        xytext=(3, 3),
                        textcoords="offset points",
                    )
                ax.set_aspect("equal")
                ax.axis("off")
            else:
                ax = fig.add_subplot(1, 2, k + 1, projection="3d")
                for i in range(4):
                    for j in range(i + 1, 4):
                        ax.plot(*corners[[i, j]].T, color="0.7", lw=0.8)
                ax.plot(*c2.T, ".", ms=1, color="C0")
                ax.plot(*v2.T, "-", color="C1", lw=1)
                ax.scatter(*v2.T, color="k", s=10)
                for v, pat in zip(v2, pats, strict=True):
                    ax.text(*v, "".join(map(str, pat)), fontsize=6)
                ax.set_axis_off()
            ax.set_title(
                f"n = {n}: functions of one ReLU on x = {np.round(pts, 2)}\n"
                "(cross-section sum f = 1; dots: sampled (w, b); "
                "black: computed vertices)",
                fontsize=8,
            )
        figs["fig3_function_space.png"] = fig
    return figs


def report(results: dict) -> str:
    return f"Figure 1: {len(results['fig1']['sectors'])} regions; Figure 3: n = 3, 4"


def figures(*, out=None, **config) -> runtime.Result:
    """Figures 1 and 3 in one call.

    Example:
      >>> from jaxnet.experiments import region_figures
      >>> sorted(region_figures.figures(x=[-1, 0.5, 2]).plot())
      ['fig1_region_fan.png', 'fig3_function_space.png']
    """
    return runtime.run(
        sys.modules[__name__], Config(**config), runtime.Options(out=out)
    )
