"""Formatting and fitting helpers shared by the claim families."""

from __future__ import annotations

import numpy as np

from jaxnet import stats


def _fmt_p(k: int, t: int) -> str:
    lo, hi = stats.wilson_interval(k, t)
    return f"{k}/{t} = {k / t:.3f} [{lo:.3f}, {hi:.3f}]"


def _thresholds(cells, panel):
    """n -> smallest d1 with p ≥ 1/2 (None if none) in one panel."""
    by_n = {}
    for c in cells:
        if c["panel"] == panel:
            by_n.setdefault(c["n"], []).append((c["d1"], c["p"]))
    return {
        n: next((d1 for d1, p in sorted(v) if p >= 0.5), None)
        for n, v in sorted(by_n.items())
    }


def _slope(points):
    xs, ys = zip(*points, strict=True)
    return float(np.polyfit(xs, ys, 1)[0]) if len(set(xs)) > 1 else float("nan")
