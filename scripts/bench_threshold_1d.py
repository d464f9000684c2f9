"""Benchmark of the d0 = 1 conditional computation against the unit-drawing engine.

Runs, in one process and in this order:

1. Figure 4's d0 = 1 panel (n = 10..100, d1 = 30..300) from ``--panel-data`` data
   sets per n by the conditional computation (``threshold_1d``'s panel part; target
   <= 30 s at 10,000 per n, i.e. 10^5 data draws), then the unit-drawing engine
   (``threshold``: exact w*, every width) on the same panel at ``--engine-trials``
   trials per cell, and the largest difference between the two panels over the sum
   of their 95% half-widths;
2. the law up to n = 10^5 by the conditional computation (paper convention; target
   <= 300 s);
3. the exact engine up to n = 10^4 (n = 1000, 3162, 10000) at ``--law-trials`` trials
   per n (target <= 900 s at 200).

Prints a table and writes ``OUT/bench.json`` and ``OUT/bench.png``.

Example:
  python scripts/bench_threshold_1d.py --out runs/bench_threshold_1d
"""

from __future__ import annotations

import _runtime  # noqa: E402  (scripts/ is on sys.path when a script runs)

_runtime.configure()

import argparse  # noqa: E402
import sys
import time

TARGETS = {"panel_conditional": 30.0, "law_conditional": 300.0, "law_engine": 900.0}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--panel-data", type=int, default=10000)
    p.add_argument("--engine-trials", type=int, default=10000)
    p.add_argument("--law-trials", type=int, default=200)
    p.add_argument("--out", default="runs/bench_threshold_1d")
    a, out = _runtime.bench_args(
        p, argv, positive=("panel_data", "engine_trials", "law_trials")
    )
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from jaxnet.experiments import threshold, threshold_1d
    from jaxnet.runtime import io

    panel_n = tuple(range(10, 101, 10))
    widths = tuple(range(30, 301, 30))
    off = dict(law_n=[], engine_n=[], engine_law_n=[], bootstrap=50)
    res = {}

    def timed(name, fn, **kw):
        t0 = time.perf_counter()
        r = fn(**kw)
        res[name] = {"seconds": time.perf_counter() - t0, "config": kw}
        return r

    cond = timed(
        "panel_conditional",
        threshold_1d.law,
        conventions=["paper"],
        panel_n=panel_n,
        panel_widths=widths,
        panel_data=a.panel_data,
        exact_check=0,
        **off,
    ).results
    eng = timed(
        "panel_engine",
        threshold.law,
        d0=[1],
        n=panel_n,
        trials=a.engine_trials,
        widths=widths,
        bootstrap=50,
    ).results
    worst = 0.0  # |difference| over the sum of the two 95% half-widths (Wilson)
    for c, e in zip(cond["panel"], eng["cells"], strict=True):
        for g, h in zip(c["grid"], e["grid"], strict=True):
            half = (
                g["p_ci95"][1] - g["p_ci95"][0] + h["p_ci95"][1] - h["p_ci95"][0]
            ) / 2
            worst = max(worst, abs(g["p"] - h["p"]) / half)
    res["panel_max_ratio"] = float(worst)
    law = timed(
        "law_conditional",
        threshold_1d.law,
        conventions=["paper"],
        law_n=(100, 316, 1000, 3162, 10000, 31623, 100000),
        panel_n=[],
        engine_n=[],
        engine_law_n=[],
        bootstrap=200,
    ).results
    res["law_conditional"]["medians"] = {
        str(r["n"]): r["q50"]["value"] for r in law["law"]
    }
    measured = timed(
        "law_engine",
        threshold_1d.law,
        conventions=["paper"],
        law_n=[],
        panel_n=[],
        engine_n=[],
        engine_law_n=(1000, 3162, 10000),
        engine_law_trials=a.law_trials,
        bootstrap=200,
    ).results
    res["law_engine"]["medians"] = {
        str(r["n"]): r["q50"]["value"] for r in measured["engine_law"]
    }
    res["metadata"] = io.run_metadata()
    io.write_json(out / "bench.json", res)

    lines = [
        f"Figure 4 d0=1 panel, 10 n x {a.panel_data} data sets (conditional, every "
        f"width of the grid): {res['panel_conditional']['seconds']:.1f} s (target <= "
        f"{TARGETS['panel_conditional']:.0f} s)",
        f"  unit-drawing engine, same panel, {a.engine_trials} trials/cell: "
        f"{res['panel_engine']['seconds']:.1f} s; largest |difference| over the two "
        f"95% half-widths = {worst:.2f} (<= 1: the panels agree)",
        f"law to n = 1e5 (conditional, paper): {res['law_conditional']['seconds']:.1f} s "
        f"(target <= {TARGETS['law_conditional']:.0f} s); medians "
        + ", ".join(
            f"n={k}: {v:.3f}" for k, v in res["law_conditional"]["medians"].items()
        ),
        f"exact engine to n = 1e4 at {a.law_trials} trials/n: "
        f"{res['law_engine']['seconds']:.1f} s (target <= "
        f"{TARGETS['law_engine']:.0f} s); medians "
        + ", ".join(
            f"n={k}: {v:.3f}" for k, v in res["law_engine"]["medians"].items() if v
        ),
    ]
    print("\n".join(lines))
    fig, ax = plt.subplots(figsize=(6, 3.5), constrained_layout=True)
    names = ["panel_conditional", "panel_engine", "law_conditional", "law_engine"]
    ax.barh(names, [res[k]["seconds"] for k in names])
    for i, k in enumerate(names):
        if k in TARGETS:
            ax.plot([TARGETS[k]] * 2, [i - 0.4, i + 0.4], "k--")
    ax.set(xlabel="seconds (dashed: target)", xscale="log", title="bench_threshold_1d")
    io.write_figure(out / "bench.png", fig)
    print(f"wrote {out / 'bench.json'} and {out / 'bench.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
