"""The Figure-4 trial: grids of cells, the seeds and draws of a column, the device function.

A cell is ``(n, d0, d1)``; a *column* is ``(n, d0)``: one trial draws data and a network
of the column's largest width D1 (``sample_trial``, one hash call over
``prng.TRIAL_STREAMS``), and its cut to the first d1 units is the trial of cell
(n, d0, d1) for every d1 at once (trial keys hash (convention, n, d0), not d1:
``column_seed``). ``device_fn`` is what runs on the device: the Gram certificates of one
trial at every width of its program (``jaxnet.rank.jacobian``); ``jacobian_fn`` the
closed-form Jacobian the host re-decides ambiguous trials with.

The engine that runs these trials is ``jaxnet.rank.fig4``; the exact, tolerance-free
ranks of the same trials are ``jaxnet.rank.exact``.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxnet import data, nets, prng, runtime
from jaxnet.rank import jacobian

# The public reference code's grids (``experiments/full_rank_regions.py``).
PEER_D0_GRID = {"n": list(range(10, 101, 10)), "d1": list(range(30, 301, 30))}
PEER_RATIO_GRID = {"n": list(range(10, 191, 20)), "d1": list(range(1, 16))}
FIG4_D0 = (1, 2, 3, 5)
FIG4_RATIOS = (0.25, 0.5, 1.0, 2.0)


def ratio_d0(ratio: float, n: int) -> int:
    """d0 = ⌈ratio·n⌉, computed exactly from the decimal ratio (0.1·30 is 3, not 4)."""
    return math.ceil(Fraction(str(ratio)) * n)


class Grid(NamedTuple):
    """The cells of one sweep: parallel ``(C,)`` arrays."""

    panel: np.ndarray  # str: 'd0=1' or 'ratio=0.5'
    n: np.ndarray
    d0: np.ndarray
    d1: np.ndarray
    n_cols: np.ndarray  # Jacobian columns P
    rtol: np.ndarray

    def cell(self, c: int) -> dict:
        """Cell ``c``'s defining values as a results record (JSON types)."""
        return {
            "panel": str(self.panel[c]),
            "n": int(self.n[c]),
            "d0": int(self.d0[c]),
            "d1": int(self.d1[c]),
            "n_params": int(self.n_cols[c]),
        }


def make_grid(
    convention: str,
    *,
    d0_values=(),
    ratios=(),
    n_values,
    d1_values,
    rank_dtype: str,
    rtol: float | None = None,
) -> Grid:
    """The cells of a Figure-4 panel family: every (panel, n, d1)."""
    wrt = nets.get_convention(convention).wrt
    rows = []
    panels = [(f"d0={d}", lambda n, d=d: d) for d in d0_values] + [
        (f"ratio={r:g}", lambda n, r=r: ratio_d0(r, n)) for r in ratios
    ]
    eps = float(np.finfo(rank_dtype).eps)
    for name, d0_of in panels:
        for n in n_values:
            for d1 in d1_values:
                d0 = d0_of(n)
                p = jacobian.n_params(d0, d1, wrt)
                tol = max(n, p) * eps if rtol is None else rtol
                rows.append((name, n, d0, d1, p, tol))
    if not rows:
        raise ValueError("the grid is empty: give --d0 or --ratio, and --n and --d1")
    cols = list(zip(*rows, strict=True))
    return Grid(
        np.array(cols[0]),
        *(np.array(c, np.int32) for c in cols[1:5]),
        np.array(cols[5], np.float64),
    )


# The name the draws of a column are hashed under. It is part of every trial key of
# Figure 4 and of the experiments that reuse its draws (threshold, deep_rank,
# gradient_descent): changing it changes every number they report.
DRAW_STREAM = "full_rank"


def column_seed(convention: str, n: int, d0: int) -> int:
    """The seed of column (n, d0)'s draws under ``convention``: every width d1, depth
    and experiment that reuses the Figure-4 draw of (n, d0) gets the same trials."""
    return runtime.cell_seed(DRAW_STREAM, convention, int(n), int(d0))


def grid_seeds(convention: str, grid: Grid) -> np.ndarray:
    """Each cell's seed: its column's (``column_seed``), not a hash of d1."""
    return np.array(
        [column_seed(convention, n, d0) for n, d0 in zip(grid.n, grid.d0, strict=True)],
        np.uint32,
    )


def sample_trial(key, convention: str, n, d0, d1, *, sizes, dtype):
    """Data and parameters of one trial, drawn at padded ``sizes=(N, D0, D1)``.

    Returns ``(params, xs, row_mask)``: rows ≥ n of ``xs`` and units ≥ d1, coordinates
    ≥ d0 of the parameters are zero; ``row_mask: (N,)`` marks the n real data points.
    """
    big_n, big_d0, big_d1 = sizes
    row_mask = jnp.arange(big_n) < n
    feat = (jnp.arange(big_d0) < d0).astype(dtype)
    unit = (jnp.arange(big_d1) < d1).astype(dtype)
    conv = nets.get_convention(convention)
    # One hash call for the whole trial: prng.TRIAL_STREAMS (parameters, then data).
    shapes = {**nets.param_shapes(big_d0, big_d1), "x": (big_n, big_d0)}
    bits = prng.stream_bits(key, {name: shapes[name] for name in prng.TRIAL_STREAMS})
    xs = data.LAWS[conv.data](bits["x"], dtype, feat) * row_mask[:, None].astype(dtype)
    params = conv.init(bits, d0, dtype)
    params = {
        "w": params["w"] * unit[:, None] * feat[None, :],
        "b": params["b"] * unit,
        "v": params["v"] * unit,
    }
    return params, xs, row_mask


def sample_units(key, convention: str, start, size: int, d0, *, big_d0: int, dtype):
    """Units [start, start + size) of ``sample_trial``'s network: ``nets.init_units``."""
    return nets.init_units(key, convention, start, size, d0, big_d0=big_d0, dtype=dtype)


class Setup(NamedTuple):
    """What one compiled program needs: draws at ``sizes = (N, D0, D1)``, certificates
    at each of ``widths`` (increasing, the last ≤ D1)."""

    convention: str
    sizes: tuple[int, int, int]
    sample_dtype: str
    beta: float
    widths: tuple[int, ...]
    cholesky: str = "lapack"
    deficient_test: bool = True


def _trial_f64(setup: Setup, key, n, d0, d1):
    """A trial's ``(params, xs, row_mask)`` at the setup's sizes, cast to float64."""
    params, xs, row_mask = sample_trial(
        key,
        setup.convention,
        n,
        d0,
        d1,
        sizes=setup.sizes,
        dtype=jnp.dtype(setup.sample_dtype),
    )
    params = jax.tree.map(lambda a: a.astype(jnp.float64), params)
    return params, xs.astype(jnp.float64), row_mask


def device_fn(setup: Setup):
    """``(key, column) -> {'code': (K,)}``: the Gram certificates of one trial of a column
    (n, d0) at every width of ``setup.widths``.

    ``column`` holds ``n``, ``d0`` and, per width, ``n_cols`` and ``rtol`` (``(K,)``).
    The K Gram matrices come from one draw at the largest width (``gram_by_width``).
    """
    wrt = nets.get_convention(setup.convention).wrt

    def one(key, col):
        params, xs, row_mask = _trial_f64(
            setup, key, col["n"], col["d0"], setup.sizes[2]
        )
        g = jacobian.gram_by_width(params, xs, wrt, setup.widths, row_mask=row_mask)
        cert = jax.vmap(
            lambda g, n_cols, rtol: (
                jacobian.full_rank_certificate(
                    g,
                    col["n"],
                    n_cols,
                    rtol,
                    row_mask=row_mask,
                    beta=setup.beta,
                    cholesky=setup.cholesky,
                    deficient_test=setup.deficient_test,
                ).code
            )
        )(g, col["n_cols"], col["rtol"])
        return {"code": cert}

    return one


def jacobian_fn(setup: Setup):
    """``(key, n, d0, d1) -> (N, P_max)`` closed-form Jacobian of a trial cut to width
    d1, padded with zeros."""
    wrt = nets.get_convention(setup.convention).wrt

    def one(key, n, d0, d1):
        params, xs, row_mask = _trial_f64(setup, key, n, d0, d1)
        jac = jacobian.closed_form_jacobian(params, xs, wrt)
        return jac * row_mask[:, None]

    return one


def column_mask(convention: str, sizes, d0: int, d1: int) -> np.ndarray:
    """Which of the padded Jacobian's columns belong to a cell with (d0, d1)."""
    _, big_d0, big_d1 = sizes
    unit = np.arange(big_d1) < d1
    blocks = {
        "b": unit,
        "v": unit,
        "w": (unit[:, None] & (np.arange(big_d0) < d0)[None, :]).ravel(),
    }
    return np.concatenate([blocks[k] for k in nets.get_convention(convention).wrt])


class Columns(NamedTuple):
    """The distinct (n, d0) of a grid's cells: the trials' unit of work.

    A trial of column (n, d0) is one draw of data and a width-D1 network; its cut to
    the first d1 units is the trial of cell (n, d0, d1), for every d1 at once.
    """

    n: np.ndarray  # (J,)
    d0: np.ndarray  # (J,)
    seed: np.ndarray  # (J,) uint32
    of_cell: np.ndarray  # (C,) the column of each cell


def grid_columns(convention: str, grid: Grid) -> Columns:
    pairs = sorted({(int(n), int(d0)) for n, d0 in zip(grid.n, grid.d0, strict=True)})
    index = {p: j for j, p in enumerate(pairs)}
    n, d0 = (np.array(c, np.int32) for c in zip(*pairs, strict=True))
    seeds = np.array([column_seed(convention, *p) for p in pairs], np.uint32)
    of_cell = np.array(
        [index[int(a), int(b)] for a, b in zip(grid.n, grid.d0, strict=True)], np.int32
    )
    return Columns(n, d0, seeds, of_cell)
