"""The report's Section 6 as a converged experiment: the λ-sweep of stationary students.

For each N in ``N``, each λ in ``lam`` and each of ``seeds`` seeds: N inputs uniform on
S¹ labelled by the teacher (``teachers``), a width-``width`` student initialized at
scale ``init_scale``, ``warmup`` steps of full-batch gradient descent on J_λ = R +
(λ/2)‖θ‖² at learning rate ``lr``, then L-BFGS on the same J_λ until the stopping rule
holds (``jaxnet.teacher_student.train.Stop``: ‖∇J_λ‖ ≤ ``grad_rtol``·λ‖θ‖ and the
mass-weighted angle
moving by less than ``angle_rtol`` relative between checks ``check_every`` steps
apart) or ``max_steps`` end it ("not converged": counted, kept out of the verdict).
Trial keys hash N, not λ, so every λ sees the same data and initialization (paired
comparisons); all λ and seeds of one N run in one compiled program, chunked, each run
after the other on its device (``lax.map``: an L-BFGS run stops at its own step, and a
run's numbers do not depend on the chunk or device count, bit for bit — a vmapped chunk
rounds differently at each batch size and ran every lane as long as its slowest).

Every converged student is measured (``jaxnet.teacher_student.measures``): the mass fraction within
``angle_tol`` of a teacher direction, the mass-weighted angle, the largest angle of a
neuron carrying more than ``mass_tol`` of the mass, strict condensation (Definition
4.1), ‖θ‖² against 2·m0, the RMS distance to the teacher on S¹ and to the exact
minimum-norm interpolant of the same data (``jaxnet.teacher_student.minnorm``). Per N, each metric's
approach to its λ → 0 limit is fitted as a power law c·λ^b over the λ grid.

Two checks of the method on the first ``check_seeds`` seeds of every (N, λ):

- **plain GD** from the same initialization for ``gd_steps`` steps at ``lr`` (the
  baseline: its mass fraction along the way is the trajectory figure, and its end point
  is compared with the polished stationary point);
- **minibatch SGD** as the report ran it (batch ``sgd_batch``, learning rate
  ``sgd_lr``, ``sgd_steps`` steps, constant λ): its noise floor, the median of
  ‖∇J_λ‖/(λ‖θ‖) over its last ten logs, and its distance to the stationary point.

Length (about 750 lines): one experiment's four parts. Its ``Config`` is a third of it
(every knob of the solver, the stopping rule and both checks, with its help and check)
and ``plot`` draws four figures; what other experiments could share lives in
``jaxnet.teacher_student``.
"""

from __future__ import annotations

import dataclasses
import sys

import jax
import jax.numpy as jnp
import numpy as np

from jaxnet import data, nets, runtime, stats
from jaxnet.runtime import config
from jaxnet.teacher_student import measures, teachers, train
from jaxnet.teacher_student.minnorm import exact_trial

SPEC = runtime.Spec(
    "condensation_sweep",
    "report (Song & Lee), Section 6, converged: SGD + L2 as lambda -> 0",
    arrays="students.npz",
    options=("out", "progress", "checkpoint_every", "stall_timeout", "workers"),
)
LAMBDAS = (1e-2, 3e-3, 1e-3, 3e-4, 1e-4)
# The per-λ means that are fitted as c·λ^b (each → 0 as λ → 0 if b > 0).
FITTED = (
    "off_mass",
    "mass_weighted_angle",
    "norm_gap",
    "teacher_distance",
    "exact_distance",
)


@dataclasses.dataclass(frozen=True)
class Config:
    """Every (N, λ) cell: ``seeds`` students trained to a stationary point of J_λ
    (warm-up GD, then L-BFGS to the ``grad_rtol``/``angle_rtol`` rule), plus the checks."""

    N: tuple[int, ...] = config.field(
        (40, 20), help="training-set sizes", check=config.ints(3)
    )
    lam: tuple[float, ...] = config.field(
        LAMBDAS,
        help="L2 strengths of the sweep",
        check=config.reals(low=0, low_open=True),
    )
    seeds: int = config.field(
        100, help="seeds (data sets and students) per N", check=config.count()
    )
    width: int = config.field(100, help="student width", check=config.count())
    teacher: str = config.field(
        "report", choices=teachers.fixed_2d, help="teacher family (fixed, in d = 2)"
    )
    init_scale: float = config.field(
        0.1, help="student initialization scale", check=config.POSITIVE
    )
    lr: float = config.field(
        0.2,
        help="gradient-descent learning rate (warm-up and the plain-GD check)",
        check=config.POSITIVE,
    )
    warmup: int = config.field(
        20000, help="full-batch GD steps before L-BFGS", check=config.count(0)
    )
    grad_rtol: float = config.field(
        1e-6,
        help="stop when ||grad J|| <= grad_rtol * lam * ||theta||",
        check=config.FRACTION,
    )
    angle_rtol: float = config.field(
        1e-3,
        help="... and the mass-weighted angle moved "
        "by <= angle_rtol (relative) since the last check",
        check=config.FRACTION,
    )
    check_every: int = config.field(
        500, help="L-BFGS steps between checks", check=config.count()
    )
    max_steps: int = config.field(
        40000,
        help="L-BFGS steps at most ('not converged' beyond)",
        check=config.count(),
    )
    angle_tol: float = config.field(
        0.05, help="condensation angle tolerance (rad)", check=config.POSITIVE
    )
    mass_tol: float = config.field(
        1e-3,
        help="neurons below this fraction of the mass "
        "are ignored by the strict criterion",
        check=config.FRACTION,
    )
    exact: bool = config.field(
        True, help="solve the exact minimum-norm program (cvxpy)"
    )
    check_seeds: int = config.field(
        5,
        help="seeds per (N, lam) of the plain-GD and SGD checks (0: none)",
        check=config.count(0),
    )
    gd_steps: int = config.field(
        400_000, help="plain-GD check: steps", check=config.count()
    )
    gd_log: int = config.field(
        4000, help="plain-GD check: steps between logs", check=config.count()
    )
    sgd_steps: int = config.field(
        40000, help="SGD check: steps (the report's)", check=config.count()
    )
    sgd_lr: float = config.field(
        0.1, help="SGD check: learning rate (the report's)", check=config.POSITIVE
    )
    sgd_batch: int = config.field(
        8, help="SGD check: minibatch size (the report's)", check=config.count()
    )
    chunk: int = config.chunk(50, "runs per compiled call (bounds memory)")
    seed: int = config.seed()

    def __post_init__(self):
        config.freeze(self)
        for name, total, every in (
            ("max_steps", self.max_steps, self.check_every),
            ("gd_steps", self.gd_steps, self.gd_log),
            ("sgd_steps", self.sgd_steps, 1000),
        ):
            if total % every:
                raise ValueError(f"{name} must be a multiple of {every}; got {total}")
        if self.check_seeds > self.seeds:
            raise ValueError(
                f"check_seeds must be <= seeds ({self.seeds}); got {self.check_seeds}"
            )

    @property
    def stop(self) -> train.Stop:
        return train.Stop(
            grad_rtol=self.grad_rtol,
            angle_rtol=self.angle_rtol,
            every=self.check_every,
            max_steps=self.max_steps,
        )


def trial_data(key, n: int, teacher: dict):
    """The trial's data: ``x (n, 2)`` uniform on S¹ (from ``fold_in(key, 1)``) and the
    teacher's labels ``y (n,)``."""
    x = data.sphere(jax.random.fold_in(key, 1), n, 2)
    return x, nets.apply_batch({k: jnp.asarray(v) for k, v in teacher.items()}, x)


def _gd_config(cfg: Config, steps: int, log_every: int) -> train.TrainConfig:
    return train.TrainConfig(
        width=cfg.width,
        steps=steps,
        batch=0,
        log_every=log_every,
        init_scale=cfg.init_scale,
    )


def solve_fn(cfg: Config, n: int, teacher: dict):
    """The per-run function ``(key, cell) -> outputs`` of the sweep: warm-up GD, then
    L-BFGS to the stopping rule (``cell['lam']``)."""
    b_star = jnp.asarray(teacher["w"])

    def solve(key, cell):
        lam = cell["lam"]
        x, y = trial_data(key, n, teacher)
        if cfg.warmup:
            params, _ = train.train(
                key, x, y, cfg.lr, lam, lam, _gd_config(cfg, cfg.warmup, cfg.warmup)
            )
        else:
            params = train.init_student(
                jax.random.split(key)[0], cfg.width, 2, cfg.init_scale
            )
        params, st = train.until_stationary(
            params, x, y, lam, b_star, method="lbfgs", stop=cfg.stop
        )
        return {
            "w": params["w"],
            "v": params["v"],
            "converged": st.converged,
            "stalled": st.stalled,
            "steps": st.steps,
            "grad_rel": st.grad_rel,
            "angle": st.angle,
        }

    return solve


def gd_check_fn(cfg: Config, n: int, teacher: dict):
    """Plain GD from the sweep's initialization: the trajectory of the aligned mass
    fraction, the mass-weighted angle and ‖∇J_λ‖/(λ‖θ‖) every ``gd_log`` steps."""
    b_star = jnp.asarray(teacher["w"])

    def run(key, cell):
        lam = cell["lam"]
        x, y = trial_data(key, n, teacher)
        params = train.init_student(
            jax.random.split(key)[0], cfg.width, 2, cfg.init_scale
        )
        step = jax.grad(train.objective)

        def block(p, _):
            p = jax.lax.fori_loop(
                0,
                cfg.gd_log,
                lambda _, q: jax.tree.map(
                    lambda a, g: a - cfg.lr * g, q, step(q, x, y, lam)
                ),
                p,
            )
            return p, (
                measures.aligned_fraction(p, b_star, cfg.angle_tol, xp=jnp),
                measures.mass_weighted_angle(p, b_star, xp=jnp),
                train.relative_gradient(p, x, y, lam),
            )

        params, (frac, angle, grad) = jax.lax.scan(
            block, params, None, length=cfg.gd_steps // cfg.gd_log
        )
        return {
            "w": params["w"],
            "v": params["v"],
            "aligned": frac,
            "angle": angle,
            "grad_rel": grad,
        }

    return run


def sgd_check_fn(cfg: Config, n: int, teacher: dict):
    """Minibatch SGD as the report ran it, at constant λ: its full-batch
    ‖∇J_λ‖/(λ‖θ‖) every 1000 steps."""

    def run(key, cell):
        lam = cell["lam"]
        x, y = trial_data(key, n, teacher)
        tcfg = train.TrainConfig(
            width=cfg.width,
            steps=cfg.sgd_steps,
            batch=cfg.sgd_batch,
            log_every=1000,
            init_scale=cfg.init_scale,
        )
        params, trace = train.train(key, x, y, cfg.sgd_lr, lam, lam, tcfg)
        return {
            "w": params["w"],
            "v": params["v"],
            "grad_rel": trace.grad_norm / (lam * jnp.sqrt(trace.sq_norm)),
        }

    return run


STOPS = ("rule", "kink", "stalled", "max_steps")


def stop_record(cfg: Config, out: dict, i: int, s: int, x, y, lam: float) -> dict:
    """How run (λ index ``i``, seed ``s``) ended: ``stop`` is ``'rule'`` (the stopping
    rule held), ``'kink'`` (stalled at a nonsmooth point that is Clarke-stationary to
    ``grad_rtol``: ``train.kink_stationarity``), ``'stalled'`` (no progress, not
    stationary) or ``'max_steps'``; ``converged`` is ``rule`` or ``kink``."""
    rec = {"steps": int(out["steps"][i, s]), "grad_rel": float(out["grad_rel"][i, s])}
    if out["converged"][i, s]:
        return {**rec, "stop": "rule", "converged": True}
    params = {"w": out["w"][i, s], "v": out["v"][i, s]}
    clarke, kinks = train.kink_stationarity(params, x, y, lam)
    rec.update(clarke_grad_rel=clarke, kinks=kinks)
    if out["stalled"][i, s]:
        at_kink = kinks > 0 and clarke <= cfg.grad_rtol
        return {**rec, "stop": "kink" if at_kink else "stalled", "converged": at_kink}
    return {**rec, "stop": "max_steps", "converged": False}


def metrics(params, teacher, exact, cfg: Config) -> dict:
    """Every measure of one student (host side)."""
    c = measures.condensation(
        params, teacher["w"], angle_tol=cfg.angle_tol, mass_tol=cfg.mass_tol
    )
    return {
        "aligned_mass_fraction": float(
            measures.aligned_fraction(params, teacher["w"], cfg.angle_tol)
        ),
        "mass_weighted_angle": float(
            measures.mass_weighted_angle(params, teacher["w"])
        ),
        "max_angle": c.max_angle,
        "condensed": c.condensed,
        "sq_norm": measures.squared_norm(params),
        "teacher_distance": measures.function_distance(params, teacher, n_quad=1 << 14),
        "exact_distance": (
            measures.function_distance(params, exact, n_quad=1 << 14)
            if exact is not None
            else float("nan")
        ),
    }


def power_fit(lams, values) -> dict:
    """Least-squares fit of log(value) = log c + b·log λ over the λ grid, with b's 95%
    t-interval; the limit as λ → 0 is 0 when the interval lies above 0."""
    lams, values = np.asarray(lams, float), np.asarray(values, float)
    keep = np.isfinite(values) & (values > 0)
    if keep.sum() < 3:
        return {
            "b": float("nan"),
            "b_ci95": [float("nan")] * 2,
            "c": float("nan"),
            "points": int(keep.sum()),
        }
    from scipy import stats as sps

    fit = sps.linregress(np.log(lams[keep]), np.log(values[keep]))
    half = sps.t.ppf(0.975, keep.sum() - 2) * fit.stderr
    return {
        "b": float(fit.slope),
        "b_ci95": [float(fit.slope - half), float(fit.slope + half)],
        "c": float(np.exp(fit.intercept)),
        "points": int(keep.sum()),
    }


def _mean_ci(values) -> dict:
    v = np.asarray(values, float)
    v = v[np.isfinite(v)]
    if len(v) == 0:
        return {"mean": float("nan"), "ci95": [float("nan")] * 2}
    half = 1.96 * v.std(ddof=1) / np.sqrt(len(v)) if len(v) > 1 else float("nan")
    return {
        "mean": float(v.mean()),
        "ci95": [float(v.mean() - half), float(v.mean() + half)],
    }


def summarize_cell(n: int, lam: float, runs: list[dict], m0: int) -> dict:
    """One (N, λ) cell: counts and the means (95% intervals) over converged runs."""
    conv = [r for r in runs if r["converged"]]
    out = {
        "N": n,
        "lam": lam,
        "seeds": len(runs),
        "converged": len(conv),
        "not_converged": len(runs) - len(conv),
        "stops": {k: sum(r["stop"] == k for r in runs) for k in STOPS},
        "steps_max": int(max(r["steps"] for r in runs)),
        "grad_rel_max": float(
            max(r.get("clarke_grad_rel", r["grad_rel"]) for r in conv)
        )
        if conv
        else None,
    }
    k = sum(r["condensed"] for r in conv)
    out["condensed"] = int(k)
    out["condensed_ci95"] = (
        list(map(float, stats.wilson_interval(k, len(conv)))) if conv else None
    )
    for field in (
        "aligned_mass_fraction",
        "mass_weighted_angle",
        "max_angle",
        "sq_norm",
        "teacher_distance",
        "exact_distance",
    ):
        out[field] = _mean_ci([r[field] for r in conv])
    out["off_mass"] = _mean_ci([1 - r["aligned_mass_fraction"] for r in conv])
    out["norm_gap"] = _mean_ci([2 * m0 - r["sq_norm"] for r in conv])
    return out


def compute(cfg: Config, ctx: runtime.Context):
    teacher = teachers.make(cfg.teacher, 3, 2)
    m0 = len(teacher["v"])
    lam = np.asarray(cfg.lam, np.float64)
    per_n, arrays = [], {}
    for n in cfg.N:
        seed_n = runtime.cell_seed(SPEC.name, n)  # not λ: every λ sees the same trials
        seeds = np.full(len(lam), seed_n, np.uint32)
        cells = {"lam": lam}
        out = ctx.device(
            solve_fn(cfg, n, teacher),
            cells,
            seeds,
            cfg.seeds,
            chunk=cfg.chunk,
            sequential=True,
            desc=f"{SPEC.name} N={n}",
        )
        xs = np.asarray(
            jax.vmap(
                lambda t, n=n, seed_n=seed_n: trial_data(
                    runtime.trial_key(ctx.base_key, seed_n, t), n, teacher
                )[0]
            )(jnp.arange(cfg.seeds, dtype=jnp.uint32))
        )
        ys = np.stack([measures.evaluate(teacher, x) for x in xs])
        exact = None
        if cfg.exact:
            ex_cells = [
                {"x": xs[s], "y": ys[s], "width": 4 * n} for s in range(cfg.seeds)
            ]
            exact = ctx.host(
                exact_trial,
                ex_cells,
                [runtime.cell_seed(SPEC.name, "exact", n, s) for s in range(cfg.seeds)],
                1,
                desc=f"exact N={n}",
            )
        cells_out = []
        for i, lam_i in enumerate(cfg.lam):
            runs = []
            for s in range(cfg.seeds):
                p = {"w": out["w"][i, s], "v": out["v"][i, s]}
                ex = (
                    {"w": exact["w"][s, 0], "v": exact["v"][s, 0]}
                    if exact is not None and exact["ok"][s, 0]
                    else None
                )
                runs.append(
                    {
                        "seed": s,
                        **stop_record(cfg, out, i, s, xs[s], ys[s], float(lam_i)),
                        **metrics(p, teacher, ex, cfg),
                    }
                )
            cells_out.append(
                {**summarize_cell(n, float(lam_i), runs, m0), "runs": runs}
            )
        block = {
            "N": n,
            "cells": cells_out,
            "fits": {
                f: power_fit(cfg.lam, [c[f]["mean"] for c in cells_out]) for f in FITTED
            },
        }
        if exact is not None:
            ok = exact["ok"][:, 0]
            block["exact"] = {
                "solved": int(ok.sum()),
                "failed": int((~ok).sum()),
                "sq_norm": _mean_ci(exact["sq_norm"][ok, 0]),
                "teacher_distance": _mean_ci(
                    [
                        measures.function_distance(
                            {"w": exact["w"][s, 0], "v": exact["v"][s, 0]},
                            teacher,
                            n_quad=1 << 14,
                        )
                        for s in np.flatnonzero(ok)
                    ]
                ),
            }
            arrays[f"N{n}_exact_w"] = exact["w"][:, 0]
            arrays[f"N{n}_exact_v"] = exact["v"][:, 0]
        if cfg.check_seeds:
            block["checks"] = _checks(cfg, ctx, n, teacher, seed_n, out, arrays)
        arrays.update(
            {
                f"N{n}_w": out["w"],
                f"N{n}_v": out["v"],
                f"N{n}_x": xs,
                f"N{n}_converged": out["converged"],
                f"N{n}_steps": out["steps"],
                f"N{n}_grad_rel": out["grad_rel"],
            }
        )
        per_n.append(block)
    body = {
        "objective": "J = (1/2N) sum (f(x_i) - y_i)^2 + (lam/2) ||theta||^2, "
        "||theta||^2 = sum a_j^2 + ||b_j||^2",
        "method": f"{cfg.warmup} full-batch GD steps at lr {cfg.lr}, then optax L-BFGS "
        "on the same J_lam until the stopping rule",
        "stopping_rule": f"||grad J_lam|| <= {cfg.grad_rtol:g} * lam * ||theta|| and "
        f"|A - A_prev| <= {cfg.angle_rtol:g} * A + 1e-9 (A the "
        f"mass-weighted angle, checks {cfg.check_every} steps apart); "
        f"else not converged after {cfg.max_steps} steps",
        "teacher": {k: v.tolist() for k, v in teacher.items()},
        "target_sq_norm": 2 * m0,
        "per_N": per_n,
    }
    return body, arrays


def _checks(cfg, ctx, n, teacher, seed_n, out, arrays) -> list[dict]:
    """Plain GD and minibatch SGD on the first ``check_seeds`` seeds of every λ."""
    lam = np.asarray(cfg.lam, np.float64)
    seeds = np.full(len(lam), seed_n, np.uint32)
    gd, sgd = (
        ctx.device(
            check_fn(cfg, n, teacher),
            {"lam": lam},
            seeds,
            cfg.check_seeds,
            chunk=cfg.chunk,
            sequential=True,
            desc=f"{label} N={n}",
        )
        for check_fn, label in ((gd_check_fn, "plain GD"), (sgd_check_fn, "SGD"))
    )
    arrays.update(
        {
            f"N{n}_gd_aligned": gd["aligned"],
            f"N{n}_gd_angle": gd["angle"],
            f"N{n}_gd_grad_rel": gd["grad_rel"],
        }
    )
    rows = []
    for i, lam_i in enumerate(cfg.lam):
        dist_gd, dist_sgd = [], []
        for s in range(cfg.check_seeds):
            ref = {"w": out["w"][i, s], "v": out["v"][i, s]}
            dist_gd.append(
                measures.function_distance(
                    {"w": gd["w"][i, s], "v": gd["v"][i, s]}, ref, n_quad=1 << 14
                )
            )
            dist_sgd.append(
                measures.function_distance(
                    {"w": sgd["w"][i, s], "v": sgd["v"][i, s]}, ref, n_quad=1 << 14
                )
            )
        g_end = gd["grad_rel"][i, :, -1]
        rows.append(
            {
                "lam": float(lam_i),
                "seeds": cfg.check_seeds,
                "gd_steps": cfg.gd_steps,
                "gd_grad_rel_end": [float(v) for v in g_end],
                "gd_stationary": int((g_end <= cfg.grad_rtol).sum()),
                "gd_aligned_end": float(gd["aligned"][i, :, -1].mean()),
                "gd_aligned_at_40000": float(
                    gd["aligned"][i, :, 40000 // cfg.gd_log - 1].mean()
                )
                if cfg.gd_steps >= 40000
                else None,
                "gd_distance_to_stationary": float(np.max(dist_gd)),
                "sgd_noise_floor_grad_rel": float(
                    np.median(sgd["grad_rel"][i, :, -10:])
                ),
                "sgd_distance_to_stationary": float(np.max(dist_sgd)),
            }
        )
    return rows


def plot(results: dict, arrays: dict) -> dict:
    import matplotlib.pyplot as plt

    from jaxnet import plotting

    teacher = {k: np.asarray(v) for k, v in results["teacher"].items()}
    figs = {}
    with plt.rc_context(plotting.STYLE):
        # The report's Figure 4 from a converged run at the smallest λ, beside the
        # exact interpolant of the same data.
        blk = results["per_N"][0]
        n = blk["N"]
        i = int(np.argmin([c["lam"] for c in blk["cells"]]))
        cell = blk["cells"][i]
        has_exact = f"N{n}_exact_w" in arrays
        fig, axes = plotting.axes_grid(
            1, 2 if has_exact else 1, (8 if has_exact else 4, 4)
        )
        plotting.neuron_arrows(
            axes[0, 0],
            arrays[f"N{n}_w"][i, 0],
            arrays[f"N{n}_v"][i, 0],
            teacher["w"],
            f"converged student, N={n}, λ={cell['lam']:g}, seed 0: "
            f"‖θ‖²={cell['runs'][0]['sq_norm']:.4f}",
        )
        if has_exact:
            plotting.neuron_arrows(
                axes[0, 1],
                arrays[f"N{n}_exact_w"][0],
                arrays[f"N{n}_exact_v"][0],
                teacher["w"],
                "exact minimum-norm interpolant, same data",
            )
        fig.suptitle(
            "|a_i| b_i (red: a_i > 0, blue: a_i < 0); black: teacher directions",
            fontsize=9,
        )
        figs["fig4_converged.png"] = fig

        # The λ-sweep curves.
        fields = [
            ("off_mass", "1 − mass within tol"),
            ("mass_weighted_angle", "mass-weighted angle (rad)"),
            ("max_angle", "max angle, mass > 0.1% (rad)"),
            ("norm_gap", "6 − ‖θ‖²"),
            ("teacher_distance", "RMS distance to teacher"),
            ("exact_distance", "RMS distance to exact interpolant"),
        ]
        fig, axes = plt.subplots(2, 3, figsize=(12, 6.5), constrained_layout=True)
        for ax, (field, label) in zip(axes.flat, fields, strict=True):
            values = np.array(
                [c[field]["mean"] for blk in results["per_N"] for c in blk["cells"]],
                float,
            )
            if not np.any(np.isfinite(values) & (values > 0)):  # e.g. exact=False
                ax.set_title(label, fontsize=9)
                ax.text(
                    0.5,
                    0.5,
                    "not computed in this run",
                    ha="center",
                    va="center",
                    transform=ax.transAxes,
                    fontsize=8,
                )
                continue
            for blk in results["per_N"]:
                lams = np.array([c["lam"] for c in blk["cells"]])
                mean = np.array([c[field]["mean"] for c in blk["cells"]])
                lo = np.array([c[field]["ci95"][0] for c in blk["cells"]])
                hi = np.array([c[field]["ci95"][1] for c in blk["cells"]])
                line = ax.errorbar(
                    lams,
                    mean,
                    yerr=[mean - lo, hi - mean],
                    marker="o",
                    capsize=2,
                    label=f"N = {blk['N']}",
                )
                fit = blk.get("fits", {}).get(field)
                if fit and np.isfinite(fit["b"]):
                    grid = np.geomspace(lams.min(), lams.max(), 50)
                    ax.plot(
                        grid,
                        fit["c"] * grid ** fit["b"],
                        ls="--",
                        lw=0.8,
                        color=line[0].get_color(),
                        label=f"fit λ^{fit['b']:.2f}",
                    )
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlabel("λ")
            ax.set_title(label, fontsize=9)
            ax.legend(fontsize=7)
        fig.suptitle(
            "converged students: means over converged seeds, 95% intervals", fontsize=9
        )
        figs["lambda_sweep.png"] = fig

        # The trajectories of plain GD.
        blk = results["per_N"][0]
        n = blk["N"]
        if f"N{n}_gd_aligned" in arrays:
            frac = arrays[f"N{n}_gd_aligned"]  # (λ, seeds, logs)
            log = results["config"]["gd_log"]
            steps = log * np.arange(1, frac.shape[-1] + 1)
            fig, ax = plt.subplots(figsize=(6.5, 4), constrained_layout=True)
            for i, cell in enumerate(blk["cells"]):
                (line,) = ax.plot(
                    steps, frac[i].mean(axis=0), label=f"λ = {cell['lam']:g}"
                )
                same = [
                    r["aligned_mass_fraction"] for r in cell["runs"][: frac.shape[1]]
                ]
                ax.axhline(np.mean(same), ls="--", lw=0.8, color=line.get_color())
            ax.axvline(40000, color="k", lw=0.8)
            ax.text(40000, ax.get_ylim()[0], " 40,000 steps", fontsize=7, va="bottom")
            ax.set(
                xscale="log",
                xlabel=f"plain GD steps (lr = {results['config']['lr']:g})",
                ylabel=f"mass within {results['config']['angle_tol']:g} rad",
            )
            ax.set_title(
                f"N = {n}: plain GD from the same initialization (solid) vs "
                f"the stationary points (dashed), mean of {frac.shape[1]} seeds",
                fontsize=9,
            )
            ax.legend(fontsize=7)
            figs["trajectories.png"] = fig
    return figs


def report(results: dict) -> str:
    from jaxnet import claims

    lines = []
    for blk in results["per_N"]:
        for c in blk["cells"]:
            lines.append(
                f"N={blk['N']} lam={c['lam']:g}: converged {c['converged']}/{c['seeds']} "
                f"{c['stops']}"
                f"; mass within tol {c['aligned_mass_fraction']['mean']:.4f}, "
                f"mass-weighted angle {c['mass_weighted_angle']['mean']:.4f} rad, max "
                f"angle {c['max_angle']['mean']:.3f}, strictly condensed "
                f"{c['condensed']}/{c['converged']}, ||theta||^2 "
                f"{c['sq_norm']['mean']:.4f}, to teacher "
                f"{c['teacher_distance']['mean']:.2e}, to exact "
                f"{c['exact_distance']['mean']:.2e}"
            )
        fits = ", ".join(
            f"{f} ~ lam^{v['b']:.2f} [{v['b_ci95'][0]:.2f}, {v['b_ci95'][1]:.2f}]"
            for f, v in blk["fits"].items()
        )
        lines.append(
            f"N={blk['N']} fits: {fits}; verdict {claims.condensation_limit(blk)}"
        )
    return "\n".join(lines)


def sweep(*, out=None, progress: bool = False, **config) -> runtime.Result:
    """The converged λ-sweep in one call. Keyword arguments are ``Config``'s fields.

    Example:
      >>> from jaxnet.experiments import condensation_sweep
      >>> res = condensation_sweep.sweep(N=[12], seeds=2, check_seeds=0, lam=[1e-2])
      >>> sorted(res.results["per_N"][0])
      ['N', 'cells', 'exact', 'fits']
    """
    return runtime.run(
        sys.modules[__name__],
        Config(**config),
        runtime.Options(out=out, progress=progress),
    )
