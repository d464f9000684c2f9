"""The report's experiment: SGD with L2 regularization vs the exact minimum-norm student.

Teacher: m0 = 3 neurons 120° apart, a*_j = +1, ‖a*_j b*_j‖ = 1 (the report's; ``--teacher
mixed`` alternates the signs). For each N in ``--N`` and each of ``--seeds`` seeds: N
inputs uniform on S¹, labels from the teacher, a width-``--width`` student trained on
J_λ = R + (λ/2)‖θ‖² by minibatch SGD with a geometric λ continuation (all seeds and N
in one vmapped, compiled program; ``jaxnet.teacher_student.train``), and the exact minimum-norm
interpolant of the same data (``jaxnet.teacher_student.minnorm``, cvxpy + Clarabel). For both: the
squared norm (against 2·m0 = 6), condensation (Definition 4.1 at ``--angle-tol``), mass
per teacher group (Proposition 4.2 says 1), κ(f), the distance to the teacher as a
function on S¹ and the test error on fresh points. Per seed: the sector counts,
whether Theorem 5.2's hypothesis (≥ 3 points per sector) holds; per N: the report's
bound (eq. 12) and the exact probability of that hypothesis.
"""

from __future__ import annotations

import dataclasses
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

from jaxnet import data, nets, runtime
from jaxnet.rank import theory
from jaxnet.runtime import config
from jaxnet.teacher_student import measures, teachers, train
from jaxnet.teacher_student.minnorm import STATUSES, exact_trial  # noqa: F401  (re-exported)

SPEC = runtime.Spec(
    "condensation",
    "report (Song & Lee), Section 6 and Figure 4",
    arrays="runs.npz",
    options=runtime.HOST_OPTIONS,
)


@dataclasses.dataclass(frozen=True)
class Config:
    """The report's protocol: ``seeds`` students of ``width`` per N, SGD with an L2
    continuation from ``lam`` to ``lam_final``, then the exact interpolant (``exact``)."""

    N: tuple[int, ...] = config.field(
        (40, 20), help="training-set sizes", check=config.ints(3)
    )
    seeds: int = config.field(
        100, help="seeds (data sets and students) per N", check=config.count()
    )
    width: int = config.field(100, help="student width", check=config.count())
    teacher: str = config.field(
        "report", choices=teachers.fixed_2d, help="teacher family (fixed, in d = 2)"
    )
    steps: int = config.field(40000, help="SGD steps in all", check=config.count())
    batch: int = config.field(
        8,
        help="SGD minibatch size (0: full-batch gradient descent)",
        check=config.count(0),
    )
    lr: float = config.field(0.1, help="learning rate", check=config.POSITIVE)
    lam: float = config.field(
        1e-2, help="first L2 strength of the continuation", check=config.POSITIVE
    )
    lam_final: float = config.field(
        1e-4, help="last L2 strength", check=config.POSITIVE
    )
    stages: int = config.field(5, help="continuation stages", check=config.count())
    log_every: int = config.field(1000, help="steps between logs", check=config.count())
    angle_tol: float = config.field(
        0.05, help="condensation angle tolerance (rad)", check=config.POSITIVE
    )
    exact: bool = config.field(
        True, help="also solve the exact minimum-norm program (needs cvxpy)"
    )
    seed: int = config.seed()

    def __post_init__(self):
        config.freeze(self)
        if self.steps % self.log_every or self.steps % self.stages:
            raise ValueError("steps must be a multiple of log_every and of stages")

    def train_config(self) -> train.TrainConfig:
        """The student's training settings (``train.TrainConfig``)."""
        return train.TrainConfig(
            width=self.width,
            steps=self.steps,
            batch=self.batch,
            log_every=self.log_every,
            stages=self.stages,
        )


def make_data(cfg: Config, n: int, teacher, base_key):
    """``keys (S,)``, ``x (S, N, 2)``, ``y (S, N)``: seed s of N draws from its own key."""
    seed_n = runtime.cell_seed("condensation", n)
    keys = jax.vmap(lambda s: runtime.trial_key(base_key, seed_n, s))(
        jnp.arange(cfg.seeds, dtype=jnp.uint32)
    )
    x = jax.vmap(lambda k: data.sphere(jax.random.fold_in(k, 1), n, 2))(keys)
    tj = {k: jnp.asarray(v) for k, v in teacher.items()}
    y = jax.vmap(lambda xx: nets.apply_batch(tj, xx))(x)
    return keys, x, y


def student_fn(n: int, teacher, cfg: Config, tcfg: train.TrainConfig):
    """``(key, cell) -> one SGD student`` of seed ``t``: its data (``make_data``'s draw
    from the same key) and ``train.train`` from that key; the final parameters and the
    trace."""
    tj = {k: jnp.asarray(v) for k, v in teacher.items()}

    def one(key, cell):
        del cell
        x = data.sphere(jax.random.fold_in(key, 1), n, 2)
        params, trace = train.train(
            key, x, nets.apply_batch(tj, x), cfg.lr, cfg.lam, cfg.lam_final, tcfg
        )
        return {**params, **trace._asdict()}

    return one


def metrics(params, teacher, x_test, angle_tol):
    c = measures.condensation(params, teacher["w"], angle_tol=angle_tol)
    return {
        "sq_norm": measures.squared_norm(params),
        "condensed": c.condensed,
        "max_angle": c.max_angle,
        "group_mass": c.group_mass.tolist(),
        "stray_mass": c.stray_mass,
        "aligned_mass_fraction": float(
            c.group_mass.sum() / max(measures.neuron_mass(params).sum(), 1e-300)
        ),
        "kappa": measures.kappa(params),
        "function_distance": measures.function_distance(params, teacher),
        "test_mse": float(
            np.mean(
                (measures.evaluate(params, x_test) - measures.evaluate(teacher, x_test))
                ** 2
            )
        ),
    }


def compute(cfg: Config, ctx: runtime.Context):
    teacher = teachers.make(cfg.teacher, 3, 2)
    m0 = len(teacher["v"])
    p_sector = theory.sector_probabilities(teacher["w"])
    tcfg = cfg.train_config()
    th = np.asarray(
        jax.random.uniform(
            jax.random.fold_in(ctx.base_key, 7), (2000,), maxval=2 * np.pi
        )
    )
    x_test = np.stack([np.cos(th), np.sin(th)], axis=1)

    # All seeds of one N in one block of one compiled program (shapes differ with N).
    per_n, arrays = [], {}
    s = cfg.seeds
    for n in cfg.N:
        _, x, y = make_data(cfg, n, teacher, ctx.base_key)
        t1 = time.perf_counter()
        runs = ctx.device(
            student_fn(n, teacher, cfg, tcfg),
            {"n": np.array([n])},
            np.array([runtime.cell_seed("condensation", n)], np.uint32),
            s,
            chunk=s,
            desc=f"SGD N={n}",
        )
        train_s = time.perf_counter() - t1
        params = {"w": runs["w"][0], "v": runs["v"][0]}
        trace = train.Trace(
            runs["loss"][0], runs["sq_norm"][0], runs["grad_norm"][0], runs["lam"][0]
        )
        xs, ys = np.asarray(x), np.asarray(y)
        exact = None
        if cfg.exact:  # on the host pool, checkpointed (4N neurons: never truncated)
            exact = ctx.host(
                exact_trial,
                [{"x": xs[r], "y": ys[r], "width": 4 * n} for r in range(s)],
                [runtime.cell_seed(SPEC.name, "exact", n, r) for r in range(s)],
                1,
                desc=f"exact N={n}",
            )
        rows = []
        for r in range(s):
            p_r = {k: v[r] for k, v in params.items()}
            counts = theory.sector_counts(teacher["w"], xs[r])
            row = {
                "seed": r,
                "sector_counts": counts.tolist(),
                "hypothesis": bool(counts.min() >= 3),
                "sgd": metrics(p_r, teacher, x_test, cfg.angle_tol),
                "train_loss": float(trace.loss[r, -1]),
                "grad_norm": float(trace.grad_norm[r, -1]),
            }
            if exact is not None:
                row["exact"] = {
                    "status": STATUSES[exact["status"][r, 0]],
                    "tol": float(exact["tol"][r, 0]),
                    "solve_seconds": float(exact["solve_seconds"][r, 0]),
                }
                if exact["ok"][r, 0]:
                    m = int(exact["neurons"][r, 0])
                    sol = {"w": exact["w"][r, 0, :m], "v": exact["v"][r, 0, :m]}
                    row["exact"].update(metrics(sol, teacher, x_test, cfg.angle_tol))
                    row["exact"]["opt"] = float(exact["opt"][r, 0])
                    if r == 0:
                        arrays[f"N{n}_exact_w"] = sol["w"]
                        arrays[f"N{n}_exact_v"] = sol["v"]
            rows.append(row)
        arrays.update(
            {
                f"N{n}_sgd_w": params["w"],
                f"N{n}_sgd_v": params["v"],
                f"N{n}_x": xs,
                f"N{n}_trace_loss": np.asarray(trace.loss),
                f"N{n}_trace_sq_norm": np.asarray(trace.sq_norm),
                f"N{n}_trace_grad_norm": np.asarray(trace.grad_norm),
            }
        )
        per_n.append(
            {
                "N": n,
                "train_seconds_with_compile": train_s,
                "eq12_bound": theory.sector_bound_eq12(p_sector, n),
                "p_hypothesis_exact": float(
                    theory.prob_all_cells_at_least(p_sector, n, 3)
                ),
                "summary": summarize(rows, cfg.exact, m0),
                "runs": rows,
            }
        )
    body = {
        "objective": "J = (1/2N) sum (f(x_i) - y_i)^2 + (lam/2) ||theta||^2, "
        "||theta||^2 = sum a_j^2 + ||b_j||^2; lam geometric from lam to "
        "lam_final over `stages` phases",
        "teacher": {k: v.tolist() for k, v in teacher.items()},
        "sector_probabilities": p_sector.tolist(),
        "per_N": per_n,
    }
    return body, arrays


def summarize(rows, exact: bool, m0: int) -> dict:
    def block(key):
        ok = [r[key] for r in rows if key == "sgd" or r[key]["status"] == "optimal"]
        if not ok:
            return {"solved": 0}
        sq = np.array([m["sq_norm"] for m in ok])
        return {
            "solved": len(ok),
            "sq_norm_mean": float(sq.mean()),
            "sq_norm_min": float(sq.min()),
            "sq_norm_max": float(sq.max()),
            "condensed": int(sum(m["condensed"] for m in ok)),
            "aligned_mass_fraction_mean": float(
                np.mean([m["aligned_mass_fraction"] for m in ok])
            ),
            "recovered_1e-3": int(sum(m["function_distance"] < 1e-3 for m in ok)),
            "max_function_distance": float(max(m["function_distance"] for m in ok)),
        }

    out = {
        "seeds": len(rows),
        "hypothesis_holds": int(sum(r["hypothesis"] for r in rows)),
        "target_sq_norm": 2 * m0,
        "sgd": block("sgd"),
    }
    if exact:
        out["exact"] = block("exact")
        out["exact"]["failed"] = int(
            sum(r["exact"]["status"] != "optimal" for r in rows)
        )
        hyp = [r for r in rows if r["hypothesis"] and r["exact"]["status"] == "optimal"]
        out["exact"]["theorem52_checked"] = len(hyp)
        out["exact"]["theorem52_confirmed"] = int(
            sum(
                abs(r["exact"]["sq_norm"] - 2 * m0) < 1e-4
                and r["exact"]["condensed"]
                and r["exact"]["function_distance"] < 1e-3
                for r in hyp
            )
        )
    return out


def plot(results: dict, arrays: dict) -> dict:
    import matplotlib.pyplot as plt

    from jaxnet import plotting

    teacher = {k: np.asarray(v) for k, v in results["teacher"].items()}
    figs = {}

    def arrows(ax, w, v, title):
        plotting.neuron_arrows(ax, w, v, teacher["w"], title)

    n0 = results["per_N"][0]["N"]
    with plt.rc_context(plotting.STYLE):
        ncol = 2 if f"N{n0}_exact_w" in arrays else 1
        fig, axes = plotting.axes_grid(1, ncol, (4 * ncol, 4))
        run0 = results["per_N"][0]["runs"][0]
        arrows(
            axes[0, 0],
            arrays[f"N{n0}_sgd_w"][0],
            arrays[f"N{n0}_sgd_v"][0],
            f"SGD + L2 (N={n0}, seed 0): ‖θ‖²={run0['sgd']['sq_norm']:.3f}",
        )
        if ncol == 2:
            arrows(
                axes[0, 1],
                arrays[f"N{n0}_exact_w"],
                arrays[f"N{n0}_exact_v"],
                f"exact minimum norm: ‖θ‖²={run0['exact']['sq_norm']:.4f}",
            )
        fig.suptitle(
            "|a_i| b_i (red: a_i > 0, blue: a_i < 0); black: teacher directions",
            fontsize=9,
        )
        figs["fig4_neurons.png"] = fig

        fig, axes = plotting.axes_grid(
            1, len(results["per_N"]), (4 * len(results["per_N"]), 3.2)
        )
        for ax, blk in zip(axes[0], results["per_N"], strict=True):
            sgd = [r["sgd"]["sq_norm"] for r in blk["runs"]]
            ax.hist(sgd, bins=30, alpha=0.6, label="SGD + L2")
            ex = [
                r["exact"]["sq_norm"]
                for r in blk["runs"]
                if "exact" in r and r["exact"]["status"] == "optimal"
            ]
            if ex:
                ax.hist(ex, bins=30, alpha=0.6, label="exact min-norm")
            ax.axvline(blk["summary"]["target_sq_norm"], color="k", lw=1)
            held = f"{blk['summary']['hypothesis_holds']}/{blk['summary']['seeds']}"
            ax.set_xlabel("‖θ‖²")
            ax.set_title(f"N = {blk['N']}: hypothesis holds for {held}", fontsize=9)
            ax.legend(fontsize=7)
        figs["norms.png"] = fig
    return figs


def report(results: dict) -> str:
    return "\n".join(_report_line(blk) for blk in results["per_N"])


def _report_line(blk: dict) -> str:
    s, head = blk["summary"], f"N={blk['N']}: eq.12 bound {blk['eq12_bound']:.3f}"
    line = (
        head + f", exact P(>=3 per sector) {blk['p_hypothesis_exact']:.3f}, "
        "hypothesis held in "
        f"{s['hypothesis_holds']}/{s['seeds']}; SGD: ||theta||^2 mean "
        f"{s['sgd']['sq_norm_mean']:.3f} [{s['sgd']['sq_norm_min']:.3f}, "
        f"{s['sgd']['sq_norm_max']:.3f}], condensed {s['sgd']['condensed']}/"
        f"{s['seeds']} (mass within --angle-tol of a teacher direction: "
        f"{s['sgd']['aligned_mass_fraction_mean']:.0%}), "
        f"train {blk['train_seconds_with_compile']:.1f} s"
    )
    if "exact" in s and s["exact"].get("solved"):
        e = s["exact"]
        line += (
            f"; exact: ||theta||^2 [{e['sq_norm_min']:.5f}, "
            f"{e['sq_norm_max']:.5f}], condensed {e['condensed']}/{e['solved']}, "
            f"recovered {e['recovered_1e-3']}/{e['solved']}, failed "
            f"{e['failed']}; Theorem 5.2 confirmed on {e['theorem52_confirmed']}/"
            f"{e['theorem52_checked']} instances meeting its hypothesis"
        )
    return line


def student(
    *, out=None, progress: bool = False, workers: int = 0, **config
) -> runtime.Result:
    """The report's experiment in one call. Keyword arguments are ``Config``'s fields.

    Example:
      >>> from jaxnet.experiments import condensation
      >>> res = condensation.student(N=[20], seeds=4, steps=2000, log_every=100,
      ...                            workers=1)
      >>> sorted(res.results["per_N"][0])
      ['N', 'eq12_bound', 'p_hypothesis_exact', 'runs', 'summary', 'train_seconds_with_compile']
    """
    return runtime.run(
        sys.modules[__name__],
        Config(**config),
        runtime.Options(out=out, progress=progress, workers=workers),
    )
