"""Shared figure style and the plot functions. Figures are drawn from saved results only.

Plot functions return matplotlib Figures and write nothing (the runner saves them,
atomically). Callers pick the matplotlib backend (the command lines use Agg);
importing this module does not.
"""

from __future__ import annotations

import numpy as np

CMAP = "viridis"
STYLE = {"font.size": 10, "axes.titlesize": 10, "axes.labelsize": 10, "figure.dpi": 110}


def axes_grid(rows: int, cols: int, figsize: tuple[float, float]):
    """``(fig, axes)``: a ``rows × cols`` grid of axes (``axes`` always 2-D), laid out
    by matplotlib's constrained layout."""
    import matplotlib.pyplot as plt

    return plt.subplots(
        rows, cols, figsize=figsize, squeeze=False, constrained_layout=True
    )


def panel_row(n_panels: int, *, width: float = 4.5, height: float = 4.0):
    """``(fig, axes)``: one row of ``n_panels`` axes (``axes: (n_panels,)``)."""
    fig, axes = axes_grid(1, n_panels, (width * n_panels, height))
    return fig, axes[0]


def full_rank_heatmaps(cells: list[dict], *, title: str):
    """One heatmap of P(full rank) over (n, d1) per panel (the slides' Figure 4)."""
    return proportion_heatmaps(cells, title=title, label="P(rank J = n)")


def proportion_heatmaps(cells: list[dict], *, title: str, label: str, curves=None):
    """One heatmap of a proportion ``p`` over (n, d1) per panel: a Figure.

    Args:
      cells: ``results.json`` cells with ``panel, n, d1, p``.
      title: figure title (convention, rule, trials).
      label: colour-bar label.
      curves: optional ``{panel: (name, fn)}``: a sufficient width d1 = fn(n) drawn as a
        black line (a theorem's bound), placed by interpolation on the d1 axis.
    """
    import matplotlib.pyplot as plt

    curves = curves or {}
    panels = list(dict.fromkeys(c["panel"] for c in cells))
    with plt.rc_context(STYLE):
        fig, axes = axes_grid(1, len(panels), (max(3.3 * len(panels) + 0.6, 5.5), 3.4))
        for ax, panel in zip(axes[0], panels, strict=True):
            sub = [c for c in cells if c["panel"] == panel]
            ns = sorted({c["n"] for c in sub})
            d1s = sorted({c["d1"] for c in sub})
            grid = np.full((len(d1s), len(ns)), np.nan)
            for c in sub:
                grid[d1s.index(c["d1"]), ns.index(c["n"])] = c["p"]
            im = ax.imshow(
                grid, origin="lower", aspect="auto", cmap=CMAP, vmin=0, vmax=1
            )
            ax.set_xticks(range(len(ns)), [str(n) for n in ns], rotation=90, fontsize=7)
            ax.set_yticks(range(len(d1s)), [str(d) for d in d1s], fontsize=7)
            ax.set_xlabel("n (data points)")
            ax.set_ylabel("$d_1$ (hidden units)")
            if panel in curves:
                name, fn = curves[panel]
                width = np.asarray(fn(np.asarray(ns, float)), float)
                y = np.interp(
                    width, d1s, np.arange(len(d1s)), left=np.nan, right=np.nan
                )
                ax.plot(np.arange(len(ns)), y, "k-", lw=1.5, label=name)
                ax.legend(loc="upper left", fontsize=7)
            text = panel.replace("d0=", "$d_0$ = ").replace("ratio=", "$d_0$ = ⌈n·")
            ax.set_title(text + ("⌉" if panel.startswith("ratio") else ""))
        fig.colorbar(im, ax=axes[0].tolist(), label=label, shrink=0.9)
        fig.suptitle(title)
    return fig


def neuron_arrows(ax, w, v, b_star, title: str) -> None:
    """The report's Figure 4 on ``ax``: each neuron as the arrow |a_i| b_i (red for
    a_i > 0, blue for a_i < 0) and the teacher directions ±b*_k as black lines."""
    vec = np.abs(v)[:, None] * w
    for (bx, by), a in zip(vec, v, strict=True):
        if a != 0 and (bx or by):
            ax.arrow(
                0,
                0,
                bx,
                by,
                color="tab:red" if a > 0 else "tab:blue",
                alpha=0.6,
                width=0.004,
                length_includes_head=True,
                head_width=0.03,
            )
    for b in b_star:
        d = b / np.linalg.norm(b)
        ax.plot([-1.2 * d[0], 1.2 * d[0]], [-1.2 * d[1], 1.2 * d[1]], "k-", lw=0.8)
    ax.set_xlim(-1.3, 1.3)
    ax.set_ylim(-1.3, 1.3)
    ax.set_aspect("equal")
    ax.set_title(title, fontsize=9)
