"""Benchmark of gradient descent to its end against the experiment it replaced.

Runs one 10 x 10 depth-2 grid (d0 = ``--d0``, ``--trials`` initializations per cell,
``--steps`` steps, the Figures 5/6 boundary off) twice, each as a whole process of
``scripts/gradient_descent.py`` with compilation, one after the other on this machine:

1. the baseline: the experiment at ``--baseline`` (default 04c9db3, the last commit
   before GD ran to its end: Nesterov momentum, no end-point classification), checked
   out into a temporary git worktree;
2. today's experiment at the same settings (plain GD with the local-curvature step,
   the face rule at every end point, and its validation: ``--validate`` initializations
   per cell, default the experiment's 5, rerun with 10x the budget), on ``--processes``
   processes (default 2: the runner's multi-process mode, ``--coordinator`` on
   localhost, one XLA:CPU device and so one core each; the baseline has no such mode
   and runs on one). Each trial's numbers do not depend on the process count
   (``tests/test_gradient_descent.py``).

Prints both wall times (today's: from the first process's start to the last one's
end), their ratio, today's split (main sweep, validation sweep, in the experiment's own
timing), today's classes (a)-(d) and the baseline's outcomes,
and writes ``OUT/bench.json`` (the target: today's run <= 1200 s on a 2-core CPU).

Example:
  python scripts/bench_gd.py --d0 1 --out runs/bench_gd
"""

from __future__ import annotations

import _runtime  # noqa: E402  (scripts/ is on sys.path when a script runs)

_runtime.configure()

import argparse  # noqa: E402
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DESCRIPTION = __doc__.split("\n\n")[0]
ROOT = Path(__file__).resolve().parents[1]
TARGET_S = 1200.0


def _count(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def parse_args(argv):
    p = argparse.ArgumentParser(description=DESCRIPTION)
    p.add_argument("--d0", type=int, default=1)
    p.add_argument("--trials", type=int, default=100)
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument(
        "--validate",
        type=_count,
        default=None,
        help="today's initializations per cell rerun 10x longer (default: the "
        "experiment's default)",
    )
    p.add_argument(
        "--processes",
        type=int,
        default=2,
        help="processes today's experiment runs on (one core each; default 2)",
    )
    p.add_argument("--baseline", default="04c9db3", help="git revision of the baseline")
    p.add_argument("--out", default="runs/bench_gd")
    return _runtime.bench_args(p, argv, positive=("d0", "trials", "steps", "processes"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def _run(tree: Path, out: Path, a, extra=(), processes=1) -> tuple[float, dict]:
    """``scripts/gradient_descent.py`` of ``tree`` as ``processes`` processes (one
    run, JAX's distributed runtime on localhost): seconds, results."""
    cmd = [
        sys.executable,
        str(tree / "scripts" / "gradient_descent.py"),
        "--d0", str(a.d0),
        "--trials", str(a.trials),
        "--steps", str(a.steps),
        "--gm-regions", "0",
        "--out", str(out),
        *extra,
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(tree)}
    if processes > 1:
        mp = ["--coordinator", f"localhost:{_free_port()}", "--num-processes"]
        cmds = [cmd + mp + [str(processes), "--process-id", str(i)]
                for i in range(processes)]  # fmt: skip
    else:
        cmds = [cmd]
    t0 = time.perf_counter()
    procs = [subprocess.Popen(c, cwd=tree, env=env) for c in cmds]
    codes = [p.wait() for p in procs]
    seconds = time.perf_counter() - t0
    if any(codes):
        raise subprocess.CalledProcessError(max(codes, key=abs), cmds[0])
    return seconds, json.loads((out / "results.json").read_text())


def main(argv=None) -> int:
    a, out = parse_args(argv)
    from jaxnet.runtime import io

    rev = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--verify", a.baseline + "^{commit}"],
        capture_output=True,
        text=True,
    )
    if rev.returncode:
        print(f"error: --baseline {a.baseline!r} is not a commit here", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        base_tree = tmp / "baseline"
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q",
             str(base_tree), rev.stdout.strip()],
            check=True,
        )  # fmt: skip
        try:
            base_s, base = _run(base_tree, tmp / "run_baseline", a)
        finally:
            subprocess.run(
                ["git", "-C", str(ROOT), "worktree", "remove", "--force",
                 str(base_tree)],
                check=False,
            )  # fmt: skip
        extra = () if a.validate is None else ("--validate", str(a.validate))
        today_s, today = _run(ROOT, tmp / "run_today", a, extra, a.processes)

    def total(res, key):
        names = res["cells"][0][key]
        return {k: sum(c[key][k] for c in res["cells"]) for k in names}

    sweep = today["metadata"]["sweep_seconds"]
    long_s = sum(v for k, v in sweep.items() if k.endswith(" long"))
    bench = {
        "d0": a.d0,
        "trials": a.trials,
        "steps": a.steps,
        "cells": len(today["cells"]),
        "baseline": a.baseline,
        "baseline_seconds": base_s,
        "baseline_outcomes": total(base, "outcomes"),
        "today_seconds": today_s,
        "today_processes": today["metadata"]["process_count"],
        "today_classes": total(today, "classes"),
        "today_outcomes": total(today, "outcomes"),
        "today_validated": today["config"]["validate"],
        "today_main_sweep_seconds": sum(sweep.values()) - long_s,
        "today_validation_sweep_seconds": long_s,
        "ratio": today_s / base_s,
        "target_seconds": TARGET_S,
    }
    print(
        f"gradient descent, d0 = {a.d0}, {len(today['cells'])} cells x {a.trials} "
        f"initializations, {a.steps} steps (whole processes, with compilation):\n"
        f"  baseline {a.baseline}: {base_s:.1f} s, outcomes "
        f"{bench['baseline_outcomes']}\n"
        f"  today:   {today_s:.1f} s on {bench['today_processes']} process(es) "
        f"(target <= {TARGET_S:.0f} s): main sweep "
        f"{bench['today_main_sweep_seconds']:.1f} s, validation sweep "
        f"{long_s:.1f} s ({bench['today_validated']} initializations/cell, "
        f"10x the steps); classes {bench['today_classes']}\n"
        f"  today / baseline: {bench['ratio']:.2f}",
        flush=True,
    )
    io.write_json(out / "bench.json", bench)
    print(f"wrote {out / 'bench.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
