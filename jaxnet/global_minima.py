"""Do sampled activation regions contain a zero-loss global minimum? (Theorem 11, Figs 5-6)

An *instance* is (X, A, v, y) for one cell (d0, n, d1) and one trial index:

- X: n iid N(0, I_{d0}) points, with a 1 appended (bias); sorted when d0 = 1.
- A: for d0 = 1, each row uniform over the 2n step vectors, i.e. a region drawn
  uniformly from the non-empty ones (Lemma 8); for d0 > 1, the pattern of a W with iid
  N(0, 1) entries (the region of a random initialization, as the public reference code
  draws it; non-empty by construction).
- v: ⌈d1/2⌉ entries +1 and ⌊d1/2⌋ entries −1 (Theorem 11's d+ and d−), fixed.
- y: ``random``: iid N(0, 1) (the slides); ``teacher``: y = F*(X) for a random teacher
  network of width ``teacher_width`` with iid N(0, 1) weights, biases and output weights.

The question: ∃ W ∈ S_X^A (the open region) with F(W, X) = y. Decided by a margin LP
with free weights (``jaxnet.lp``): for d0 = 1 through the cones' extreme rays after
merging duplicate units, with a rank shortcut; for d0 > 1 by the full program after
merging duplicate units. On a shared random subset, every decision is re-made by the
plain full program (HiGHS, one variable per weight, no merging) and the agreement is
counted.

Randomness: instance (cell, t) is drawn by ``numpy.random.default_rng([seed, cell_seed,
t])``, so results do not depend on worker count, order or resumption.
"""

from __future__ import annotations

import numpy as np

from jaxnet import lp, regions, stats, sweep

FIG5_GRID = {"n": list(range(10, 101, 10)), "d1": list(range(100, 1001, 100))}
FIG6_GRID = {"n": list(range(5, 31, 5)), "d1": list(range(10, 111, 20))}
TARGETS = ("random", "teacher")

# Codes of how a decision was made, per instance.
BY_SPAN, BY_CONE_LP, BY_FULL_LP = 0, 1, 2
METHOD_NAMES = ("span", "cone_lp", "full_lp")


def cell_seed(d0: int, n: int, d1: int, targets: str) -> int:
    return sweep.cell_seed("global_minima", d0, n, d1, targets)


def instance(seed: int, cell: tuple, t: int, targets: str, teacher_width: int = 5):
    """``(x, xt, pattern, v, y)`` of trial ``t`` of ``cell = (d0, n, d1)``."""
    d0, n, d1 = cell
    rng = np.random.default_rng([seed, cell_seed(d0, n, d1, targets), t])
    x = rng.standard_normal((n, d0))
    if d0 == 1:
        x = np.sort(x, axis=0)
    xt = np.concatenate([x, np.ones((n, 1))], axis=1)
    if d0 == 1:
        pattern = regions.sample_steps(rng, d1, n)
    else:
        pattern = regions.sample_from_init(rng, xt, d1)
    v = np.where(np.arange(d1) < (d1 + 1) // 2, 1.0, -1.0)
    if targets == "random":
        y = rng.standard_normal(n)
    else:
        w_t = rng.standard_normal((teacher_width, d0 + 1))
        v_t = rng.standard_normal(teacher_width)
        y = np.maximum(xt @ w_t.T, 0.0) @ v_t
    return x, xt, pattern, v, y


def decide(x, xt, pattern, v, y, *, tol=lp.DEFAULT_TOL):
    """The fast decision: ``(LPResult, method code)``."""
    if xt.shape[1] == 2:
        res = lp.global_min_1d(x[:, 0], pattern, v, y, tol=tol)
        return res, (BY_SPAN if res.method == "span" else BY_CONE_LP)
    pat, sign = lp.merge_units(pattern, v)
    return lp.global_min_margin(xt, pat, sign, y, tol=tol), BY_FULL_LP


def reference(xt, pattern, v, y, *, tol=lp.DEFAULT_TOL) -> lp.LPResult:
    """The plain full program (HiGHS), nothing merged: the reference decisions."""
    return lp.global_min_margin(xt, pattern, v, y, tol=tol)


def run_unit(args):
    """Worker entry: ``(c, t, cell, seed, targets, teacher_width, tol, check)``."""
    c, t, cell, seed, targets, teacher_width, tol, check = args
    x, xt, pattern, v, y = instance(seed, cell, t, targets, teacher_width)
    res, method = decide(x, xt, pattern, v, y, tol=tol)
    ref = reference(xt, pattern, v, y, tol=tol).status if check else -2
    return c, t, res.status, res.margin, res.borderline, method, ref


def reference_subset(n_cells: int, n_trials: int, size: int, seed: int) -> np.ndarray:
    """``(n_cells, n_trials)`` bool: a seeded random subset of ``size`` units."""
    mask = np.zeros(n_cells * n_trials, bool)
    pick = np.random.default_rng([seed, 0x5EED]).permutation(mask.size)[:size]
    mask[pick] = True
    return mask.reshape(n_cells, n_trials)


def summarize(cells, status, borderline, method, ref) -> list[dict]:
    """Per-cell counts: yes, no, failed, borderline, p = yes/decided with Wilson CI."""
    out = []
    for c, (d0, n, d1) in enumerate(cells):
        yes = int((status[c] == lp.YES).sum())
        no = int((status[c] == lp.NO).sum())
        decided = yes + no
        lo, hi = stats.wilson_interval(yes, decided) if decided else (np.nan, np.nan)
        checked = ref[c] != -2
        out.append({
            "panel": f"d0={d0}", "d0": d0, "n": n, "d1": d1,
            "regions": int(status.shape[1]), "yes": yes, "no": no,
            "failed": int((status[c] == lp.FAILED).sum()),
            "borderline": int(borderline[c].sum()),
            "p": yes / decided if decided else float("nan"),
            "p_ci95": [float(lo), float(hi)],
            "decided_by": {name: int((method[c] == i).sum())
                           for i, name in enumerate(METHOD_NAMES)},
            "reference_checked": int(checked.sum()),
            "reference_agree": int((ref[c][checked] == status[c][checked]).sum()),
        })
    return out
