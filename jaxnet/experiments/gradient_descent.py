"""Gradient descent to its end, from many random initializations at once.

Beyond the documents (the slides' further topic "gradient descent"; Lemma 1: a critical
point with a full-rank Jacobian is a global minimum). A cell is (depth L, d0, n, d1); a
trial is one initialization, trained on its own random targets:

- data and network: the Figure-4 trial of the same key (``deep.trial_data``,
  ``models.mlp``: at L = 2 the paper convention's draws), y iid N(0, 1) from a
  separate counter stream of the key;
- loss L(θ) = (1/2n) Σ_j (F(θ, x_j) − y_j)², θ = every hidden layer [W_l | b_l] (v
  fixed, as in the slides), trained by full-batch gradient descent (optax's SGD,
  ``momentum`` 0) with the step ``lr``·n/λ_max(J Jᵀ) taken from the local curvature:
  λ_max re-measured every ``SEGMENT`` steps by a warm-started power iteration; in
  segments of ``SEGMENT`` steps (one ``lax.scan``) inside a ``lax.while_loop`` until
  L ≤ ``loss_tol``·L(0 function) or ``steps``.

**Where a run goes after its budget: the face rule.** Runs that have not reached
(most at d0 = 1, 2) are sliding: a unit's hyperplane sits on a data point and GD
chatters across it (gradient flow slides along it; ``jaxnet.regions.descent``). The
last segment records every pre-activation's sign changes; the pairs that changed sign
at least twice and end within two steps of 0 are the *face*. ``descent.face_flow``
projects the Jacobian onto the face (J̃ = J·Π, Π onto the null space of the face's
pre-activation gradients) and takes the linearized flow to t = ∞: the loss it keeps,
L_∞ = ‖r outside range(J̃)‖²/(2n) (range by Figure 4's rank rule), and the time it
needs to reach. At depth 2 this is gradient flow's exact closed form for as long as the
face and region hold (``descent.tail``); a later crossing can change the face, so it is
an extrapolation, and the experiment measures its error: ``validate`` initializations
per cell are run again with ``VALIDATE_FACTOR``× the budget and classified again.

**Outcomes** (``OUTCOMES``) and the issue's four classes (``CLASSES``):

- (a) ``reached``: L ≤ loss_tol·L(0) within the budget; ``flow_reaches``: not
  critical, and L_∞ ≤ loss_tol·L(0)/``BAND``;
- (b) ``critical_deficient``: a critical point by the gradient test g̃_rel =
  ‖J̃ᵀr‖/(s_1(J)‖r‖) ≤ ``grad_tol`` (on a face, J̃ᵀr/n is the least-norm element of
  the Clarke gradient's hull; without a face J̃ = J) with rank J̃ < n;
  ``flow_deficient``: not critical, and L_∞ ≥ ``BAND``·loss_tol·L(0) (the face's limit
  keeps a residual outside range(J̃): a rank-deficient critical point);
- (c) ``critical_full``: critical with rank J̃ = n. Lemma 1 says its loss is 0, so it
  can only be borderline; counted, with how close it is to the rank threshold;
- (d) ``budget``: undecided (L_∞ within ``BAND``× of the tolerance, or more than
  ``FACE_SLOTS``·N face pairs); ``diverged``: a non-finite loss.

At every end point the Jacobian's rank by Figure 4's float64 rule is recorded too, and
the consistency g_rel = ‖∇L‖·n/(s_1‖r‖) ≥ s_n/s_1 (``bound_violations``). The rank at
initialization is the Figure-4 decision of the same trial at L = 2, so the figure draws
GD's success boundary over Figure 4's full-rank boundary from the same trials, and over
the global-minimum-region boundary of Figures 5/6 (``global_minima`` on the same grid,
``gm_regions`` regions per cell; depth 2 only).

Length (about 800 lines): one experiment's four parts, with its compiled training
segment, the face rule's end-point analysis and its validation, which only it runs.
"""

from __future__ import annotations

import dataclasses
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.flatten_util import ravel_pytree

from jaxnet import models, prng, runtime, stats
from jaxnet.rank import deep, fig4
from jaxnet.regions import descent, minima
from jaxnet.runtime import config

SEGMENT = 50  # steps per lax.scan between stopping checks
GRIDS = {
    1: {"n": tuple(range(5, 51, 5)), "d1": tuple(range(50, 501, 50))},
    2: {"n": tuple(range(10, 101, 10)), "d1": tuple(range(10, 101, 10))},
    5: {"n": tuple(range(10, 101, 10)), "d1": tuple(range(5, 51, 5))},
}
OUTCOMES = (
    "reached",
    "critical_deficient",
    "critical_full",
    "budget",
    "diverged",
    "flow_reaches",
    "flow_deficient",
)
# the four classes: (a) reaches a global minimum, (b) a rank-deficient
# critical point, (c) a full-rank critical point (Lemma 1: loss 0), (d) undecided
CLASSES = {
    "a": ("reached", "flow_reaches"),
    "b": ("critical_deficient", "flow_deficient"),
    "c": ("critical_full",),
    "d": ("budget", "diverged"),
}
VALIDATE_FACTOR = 10  # the validation runs' budget, in units of ``steps``


def grid(d0: int) -> dict:
    """The default (n, d1) grid of an input dimension (10 × 10)."""
    return GRIDS.get(d0, GRIDS[5])


SPEC = runtime.Spec(
    "gradient_descent",
    "beyond the documents: the slides' further topic 'gradient descent' (Lemma 1)",
    arrays="trials.npz",
    options=(
        "out",
        "progress",
        "checkpoint_every",
        "stall_timeout",
        "workers",
        "coordinator",
        "num_processes",
        "process_id",
    ),
    # Fields whose values can be rounding errors, equal to the bit only for
    # bit-identical arithmetic: grad_err = ‖∇L − Jᵀr‖·n/(s₁‖r‖) (~1e-17; a real
    # inconsistency is orders of magnitude above 1e-12), and s_n/s_1 of a numerically
    # rank-deficient Jacobian (~1e-17; below 1e-15 it is under every rank threshold
    # here, max(n, P)·eps ≥ 2.2e-15, and the decisions themselves compare exactly),
    # and face_limit = L_∞/L(0) where the face's flow reaches 0 (~1e-17: ‖r‖² minus
    # its part in range(J̃); the rule compares it with loss_tol/BAND = 1e-5)
    audit_atol={
        "grad_err": 1e-12,
        "s_ratio": 1e-15,
        "s_ratio0": 1e-15,
        "face_limit": 1e-12,
    },
)


@dataclasses.dataclass(frozen=True)
class Config:
    """Every (depth, d0, n, d1) cell, ``trials`` initializations each; empty ``n`` and
    ``d1`` take ``GRIDS``."""

    depth: tuple[int, ...] = config.field(
        (2,), help="weight layers L (2: the slides' network)", check=config.ints(2)
    )
    d0: tuple[int, ...] = config.field(
        (1, 2, 5), help="input dimensions", check=config.ints()
    )
    n: tuple[int, ...] = config.axis("data-set sizes (default: per d0)")
    d1: tuple[int, ...] = config.axis("hidden widths (default: per d0)")
    trials: int = config.field(
        100, help="initializations per cell", check=config.count()
    )
    steps: int = config.field(3000, help="step budget", check=config.count())
    validate: int = config.field(
        5,
        help="initializations per cell rerun with 10x the step budget, to measure "
        "the face rule's error (0: none; the full-scale figures rerun 10)",
        check=config.count(0),
    )
    lr: float = config.field(
        1.0,
        help="step size in units of n/lambda_max(J J^T), the local curvature "
        "(re-measured every segment); GD on the quadratic is stable below 2",
        check=config.real(low=0, high=2, low_open=True, high_open=True),
    )
    momentum: float = config.field(
        0.0,
        help="Nesterov momentum (0: plain GD, the path the face rule follows)",
        check=config.real(low=0, high=1, high_open=True),
    )
    loss_tol: float = config.field(
        1e-4,
        help="reached iff L <= loss_tol * L(zero function)",
        check=config.OPEN_FRACTION,
    )
    grad_tol: float = config.field(
        1e-6,
        help="critical iff ||J^T r|| <= grad_tol * s_1 ||r||",
        check=config.OPEN_FRACTION,
    )
    gm_regions: int = config.field(
        20,
        help="regions per cell for the Figure 5/6 global-minimum boundary (0: none)",
        check=config.count(0),
    )
    seed: int = config.seed()
    chunk: int = config.chunk(
        100,
        "initializations trained at once per device (on CPU at most "
        "CPU_WORKSET / (N * hidden units), so that a chunk's activations stay in cache)",
    )

    def __post_init__(self):
        config.freeze(self)

    def cells(self) -> list[dict]:
        return [
            {"depth": L, "d0": d0, "panel": f"d0={d0}", "n": n, "d1": d1}
            for L in self.depth
            for d0 in self.d0
            for n in (self.n or grid(d0)["n"])
            for d1 in (self.d1 or grid(d0)["d1"])
        ]


def targets(key, size: int):
    """y iid N(0, 1), ``(size,)``, from the key's ``prng.TARGET_STREAM`` (counter-based: the
    first n do not depend on ``size``)."""
    words = prng.block_bits(key, prng.TARGET_STREAM, jnp.zeros(1), jnp.arange(size))
    return prng.normal(words, jnp.float64)[0]


# On CPU a chunk whose (chunk, N, hidden units) activations outgrow the cache trains
# up to twice as slowly per initialization (measured on the 2-core CPU at d0 = 1, N =
# 50, d1 = 500, 3000 steps: 207 ms per initialization in chunks of 100, 115 in 50, 88
# in 25; with two processes at once 184 in 50, 159 in 25, 142 in 12), so on CPU the
# chunk is capped at CPU_WORKSET elements of such an array. The block shape changes
# rounding only (the audit replays a part in its stored shape), never a decision in
# the tests (tests/test_gradient_descent.py).
CPU_WORKSET = 2**19


def device_chunk(chunk: int, n_rows: int, hidden: int) -> int:
    """The chunk a sweep runs in: ``chunk``, capped on CPU (``CPU_WORKSET``)."""
    if jax.default_backend() != "cpu":
        return chunk
    return max(1, min(chunk, CPU_WORKSET // (n_rows * hidden)))


POWER = 1  # power iterations per segment for λ_max(J Jᵀ/n), warm-started
POWER_START = 20  # power iterations before the first segment
FACE_SLOTS = 4  # the face's pairs are read into FACE_SLOTS·N slots (more: undecided)
BAND = 10.0  # the face rule decides only when L_∞ is BAND× off loss_tol·L(0)


def device_fn(net: models.Network, sizes, cfg: Config, steps: int | None = None):
    """``(key, cell) -> per-trial outputs`` of one initialization (module docstring);
    ``steps`` overrides ``cfg.steps`` (the validation runs)."""
    big_n, _ = sizes
    budget = cfg.steps if steps is None else steps
    eps = jnp.finfo(jnp.float64).eps

    def one(key, cell):
        n, d0 = cell["n"], cell["d0"]
        xs, row_mask = deep.trial_data(key, n, d0, sizes)
        mask = row_mask.astype(jnp.float64)
        y = targets(key, big_n) * mask
        params, fixed = net.init(key, d0)
        flat0, unravel = ravel_pytree(params)

        def outputs(flat):
            return models.apply_batch(net, unravel(flat), fixed, xs) * mask

        def residual(flat):
            return outputs(flat) - y

        def loss(flat):
            return 0.5 * jnp.sum(residual(flat) ** 2) / n

        def preacts(flat):  # (N, H), padding rows 0
            z = jax.vmap(net.preact, in_axes=(None, None, 0))(unravel(flat), fixed, xs)
            return z * mask[:, None]

        def jac(flat):
            return models.flat_jacobian(net, unravel(flat), fixed, xs) * mask[:, None]

        def rank_stats(j):
            s = deep.singular_values(j)
            s_n = jnp.where(n <= s.shape[0], s[jnp.minimum(n, s.shape[0]) - 1], 0.0)
            rtol = jnp.maximum(n, cell["n_params"]) * eps
            s_1 = jnp.maximum(s[0], jnp.finfo(jnp.float64).tiny)  # J = 0: ratio 0
            return s[0], s_n / s_1, s_n > rtol * s[0]

        j0 = jac(flat0)
        s1_0, ratio_0, full_0 = rank_stats(j0)
        zero_loss = 0.5 * jnp.sum(y**2) / n
        lam_scale = s1_0**2  # λ_max(J0 J0ᵀ)
        target = cfg.loss_tol * zero_loss
        opt = optax.sgd(1.0, momentum=cfg.momentum or None, nesterov=cfg.momentum > 0)

        def step(flat, state, eta):
            updates, state = opt.update(eta * jax.grad(loss)(flat), state, flat)
            return optax.apply_updates(flat, updates), state

        def step_size(flat, u, iterations=POWER):
            """lr·n/λ_max(J Jᵀ) by power iterations from ``u`` (warm: the previous
            segment's vector; ‖J Jᵀu‖ ≤ λ_max for ‖u‖ = 1), and the new u."""
            _, vjp = jax.vjp(outputs, flat)

            def power(_, u_lam):  # a loop, not unrolled: POWER_START costs no compile
                w = jax.jvp(outputs, (flat,), vjp(u_lam[0]))[1]
                lam = jnp.linalg.norm(w)
                return w / jnp.maximum(lam, 1e-300), lam

            u, lam = jax.lax.fori_loop(0, iterations, power, (u, jnp.float64(0.0)))
            # a network whose units are all off at every point (J = 0) is at a
            # critical point: it stays there (η = 0) rather than taking η = ∞
            alive = lam > 1e-12 * lam_scale
            return jnp.where(alive, cfg.lr * n / jnp.where(alive, lam, 1.0), 0.0), u

        def segment(carry):
            flat, state, u, time, steps_, _ = carry
            eta, u = step_size(flat, u)
            (flat, state), _ = jax.lax.scan(
                lambda c, _: (step(*c, eta), None), (flat, state), None, length=SEGMENT
            )
            return flat, state, u, time + SEGMENT * eta, steps_ + SEGMENT, loss(flat)

        def going(carry):  # the budget's last segment is the tracked one below
            value = carry[5]
            return (
                (carry[4] < budget - SEGMENT) & (value > target) & jnp.isfinite(value)
            )

        # the power iterations start from the all-ones vector, POWER_START of them
        _, u0 = step_size(flat0, mask / jnp.sqrt(n), POWER_START)
        init = (flat0, opt.init(flat0), u0, jnp.float64(0.0), jnp.int32(0), loss(flat0))
        flat, state, u, time, steps_, l_end = jax.lax.while_loop(going, segment, init)

        # The last segment records every pre-activation's sign changes and largest
        # one-step change (the face rule's input). A run that has reached or diverged
        # does not move.
        moving = (l_end > target) & jnp.isfinite(l_end)
        eta, _ = step_size(flat, u)
        eta = jnp.where(moving, eta, 0.0)

        def tracked(c, _):
            flat, state, z_old, flips, stride = c
            new, state = step(flat, state, eta)
            z_new = preacts(new)
            flips = flips + ((z_new > 0) != (z_old > 0))
            stride = jnp.maximum(stride, jnp.abs(z_new - z_old))
            return (new, state, z_new, flips, stride), None

        z = preacts(flat)
        zeros = jnp.zeros_like(z)
        (flat, _, z, flips, stride), _ = jax.lax.scan(
            tracked,
            (flat, state, z, zeros.astype(jnp.int32), zeros),
            None,
            length=SEGMENT,
        )
        time = time + SEGMENT * eta
        steps_ = steps_ + SEGMENT * moving
        l_end = loss(flat)
        j = jac(flat)
        s1, ratio, full = rank_stats(j)
        r = residual(flat)
        g = jax.grad(loss)(flat)
        jtr = j.T @ r / n
        r_norm = jnp.linalg.norm(r)
        # the face: pairs that chattered in the last segment (sign changed at least
        # twice) and end within two steps of their hyperplane
        face = (flips >= 2) & (jnp.abs(z) <= 2 * stride)
        slots = FACE_SLOTS * big_n
        sel = jnp.nonzero(face.ravel(), size=slots, fill_value=0)[0]
        filled = jnp.arange(slots) < jnp.sum(face)

        def pair_gradient(k):  # ∇_θ of pre-activation k % H at point k // H
            row, unit = jnp.divmod(k, z.shape[1])
            return jax.grad(lambda f: net.preact(unravel(f), fixed, xs[row])[unit])(
                flat
            )

        cons = jax.vmap(pair_gradient)(sel) * filled[:, None]
        ff = descent.face_flow(j, cons, r, n, cell["n_params"], target)
        return {
            "loss0": loss(flat0) / zero_loss,
            "loss": l_end / zero_loss,
            "steps": steps_,
            "time": time * s1_0**2 / n,  # gradient-flow time, units of τ0 = n/s_1(J0)²
            "full0": full_0,
            "s_ratio0": ratio_0,
            "full": full,
            "s_ratio": ratio,
            "g_rel": jnp.linalg.norm(g) * n / jnp.maximum(s1 * r_norm, 1e-300),
            # autodiff gradient against J^T r / n, on the scale s_1 ||r|| / n
            "grad_err": jnp.linalg.norm(g - jtr) * n / jnp.maximum(s1 * r_norm, 1e-300),
            "face_pairs": jnp.sum(face),
            "face_overflow": jnp.sum(face) > slots,
            "face_limit": ff["limit"] / zero_loss,
            # time to the target on the face, units of τ0
            "face_reach": time * s1_0**2 / n + ff["reach"] * ff["tau"] * s1_0**2 / n,
            "face_rank": ff["live"],
            "face_margin": ff["margin"],
            "face_g_rel": ff["grad"] / jnp.maximum(s1 * r_norm, 1e-300),
        }

    return one


def outcome(out: dict, cfg) -> np.ndarray:
    """Each trial's index into ``OUTCOMES`` (module docstring)."""
    loss, tol = out["loss"], cfg["loss_tol"]
    finite = np.isfinite(loss)
    reached = finite & (loss <= tol)
    critical = finite & ~reached & (out["face_g_rel"] <= cfg["grad_tol"])
    full = out["face_margin"] > 1
    rule = finite & ~reached & ~critical & ~out["face_overflow"]
    limit = out["face_limit"]
    code = np.full(loss.shape, OUTCOMES.index("budget"), np.int8)
    code[rule & (limit <= tol / BAND)] = OUTCOMES.index("flow_reaches")
    code[rule & (limit >= tol * BAND)] = OUTCOMES.index("flow_deficient")
    code[reached] = OUTCOMES.index("reached")
    code[critical & ~full] = OUTCOMES.index("critical_deficient")
    code[critical & full] = OUTCOMES.index("critical_full")
    code[~finite] = OUTCOMES.index("diverged")
    return code


def classes(code: np.ndarray) -> np.ndarray:
    """Each trial's class index into ``CLASSES`` ("abcd") from its outcome code."""
    table = np.zeros(len(OUTCOMES), np.int8)
    for k, names in enumerate(CLASSES.values()):
        for name in names:
            table[OUTCOMES.index(name)] = k
    return table[code]


def bound_violations(out: dict) -> np.ndarray:
    """End points with full-rank J (by the rule) and g_rel < s_n/s_1 (rel. 1e-6).

    g_rel ≥ s_n/s_1 is linear algebra given ∇L = Jᵀr/n; a violation would mean the
    gradient or the rank is computed wrong. Rank-deficient end points are left out:
    their computed s_n/s_1 is rounding (≈ 1e-16), and so is g_rel there."""
    return out["full"] & (out["g_rel"] < (1 - 1e-6) * out["s_ratio"])


CERT_MARGIN = 2.0  # full rank certified at an end point iff s_n/s_1 > CERT_MARGIN*rtol


def lemma1_test(out_c: dict, code_c: np.ndarray) -> dict:
    """Lemma 1 at the end points of one cell: among the critical end points that are
    not global minima (outcomes ``critical_*``), how many have a face Jacobian J̃ of
    certified full rank (s̃_n/s̃_1 > ``CERT_MARGIN``·rtol, rtol = max(n, P)·eps₆₄: the
    SVD's rounding cannot make a singular J̃ look that far from singular)? J̃ᵀr = 0
    with J̃ of full row rank forces r = 0, so Lemma 1 (and its face version) predicts
    none. Also how close the critical ones came: max (s̃_n/s̃_1)/rtol."""
    critical = (code_c == OUTCOMES.index("critical_deficient")) | (
        code_c == OUTCOMES.index("critical_full")
    )
    ratio = out_c["face_margin"][critical]
    return {
        "critical_tested": int(critical.sum()),
        "critical_full_certified": int((ratio > CERT_MARGIN).sum()),
        "critical_max_s_ratio_over_rtol": float(ratio.max()) if ratio.size else None,
    }


def _quantiles(values) -> list | None:
    values = values[np.isfinite(values)]
    if not values.size:
        return None
    return [float(q) for q in np.quantile(values, [0.1, 0.5, 0.9])]


def validation(code: np.ndarray, code_long: np.ndarray) -> dict:
    """The face rule at ``steps`` against the same runs at ``VALIDATE_FACTOR``×steps:
    how many keep their class, and the outcome-by-outcome table (rows: at ``steps``,
    columns: at the long budget, both in ``OUTCOMES`` order)."""
    k = code_long.shape[-1]
    short = code[..., :k]
    table = np.zeros((len(OUTCOMES), len(OUTCOMES)), int)
    np.add.at(table, (short.ravel(), code_long.ravel()), 1)
    return {
        "trials": int(short.size),
        "same_class": int((classes(short) == classes(code_long)).sum()),
        "table": table.tolist(),
    }


def summarize(cells, out: dict, cfg, long: dict | None = None) -> list[dict]:
    code = outcome(out, cfg)
    cls = classes(code)
    code_long = outcome(long, cfg) if long else None
    rows = []
    for c, cell in enumerate(cells):
        t = code.shape[1]
        k = int((cls[c] == 0).sum())
        lo, hi = stats.wilson_interval(k, t)
        k_run = int((code[c] == 0).sum())
        k0 = int(out["full0"][c].sum())
        lo0, hi0 = stats.wilson_interval(k0, t)
        loss = out["loss"][c]
        reach_time = np.where(code[c] == 0, out["time"][c], out["face_reach"][c])
        b = int((cls[c] == 1).sum())
        row = {
            **{
                key: cell[key]
                for key in ("depth", "panel", "d0", "n", "d1", "n_params")
            },
            "trials": t,
            "reached": k,
            "p": k / t,
            "p_ci95": [float(lo), float(hi)],
            "reached_in_budget": k_run,
            "p_in_budget": k_run / t,
            "classes": {
                name: int((cls[c] == i).sum()) for i, name in enumerate(CLASSES)
            },
            "p_deficient": b / t,
            "p_deficient_ci95": [float(x) for x in stats.wilson_interval(b, t)],
            "outcomes": {
                name: int((code[c] == i).sum()) for i, name in enumerate(OUTCOMES)
            },
            "full_rank_init": k0,
            "p_full_rank_init": k0 / t,
            "p_full_rank_init_ci95": [float(lo0), float(hi0)],
            "full_rank_end": int(out["full"][c].sum()),
            # Lemma 1: full rank at the end point and not a global minimum needs
            # g_rel >= s_n/s_1, so it is critical only when s_n/s_1 <= grad_tol.
            "full_rank_end_not_reached": int((out["full"][c] & (cls[c] != 0)).sum()),
            "loss_quantiles": [float(q) for q in np.nanquantile(loss, [0.1, 0.5, 0.9])],
            "median_steps": float(np.median(out["steps"][c])),
            # time to reach (class a), units of τ0 = n/s_1(J0)²: 10/50/90%
            "reach_time_quantiles": _quantiles(reach_time[cls[c] == 0]),
            "face_pairs_max": int(out["face_pairs"][c].max()),
            # the face rule's borderline: L_∞ within BAND of the tolerance
            "rule_borderline": int(
                ((code[c] == OUTCOMES.index("budget")) & ~out["face_overflow"][c]).sum()
            ),
            "gradient_bound_violations": int(bound_violations(out)[c].sum()),
            "lemma1": lemma1_test({"face_margin": out["face_margin"][c]}, code[c]),
            "max_grad_err": float(np.nanmax(out["grad_err"][c])),
        }
        if long:
            row["validation"] = validation(code[c], code_long[c])
        rows.append(row)
    return rows


def _gm_boundary(cfg: Config, ctx: runtime.Context) -> list[dict]:
    """Figures 5/6's fraction of regions with a global minimum on the GD grid: per d0,
    the Figure 5/6 engine (``jaxnet.regions.minima``) in a child context of its own
    (folder ``global_minima_d0=D``), with exactly the cells, keys and numbers of a
    standalone ``global_minima`` run of that config."""
    out = []
    for d0 in cfg.d0:
        g = grid(d0)
        gcfg = minima.Config(
            d0=(d0,),
            n=cfg.n or g["n"],
            d1=cfg.d1 or g["d1"],
            regions=cfg.gm_regions,
            check_reference=0,
            seed=cfg.seed,
        )
        # named as the standalone experiment: its parts are a global_minima run's
        sub = ctx.child(f"global_minima_d0={d0}", "global_minima", gcfg)
        found, _ = minima.run_config(sub, gcfg)
        out += found["cells"]
    return out


def compute(cfg: Config, ctx: runtime.Context):
    cells = cfg.cells()
    for c in cells:
        c["n_params"] = models.n_params(models.mlp, c["d0"], c["d1"], c["depth"])
    seeds = np.array(
        [fig4.column_seed("paper", c["n"], c["d0"]) for c in cells], np.uint32
    )
    groups = {}
    for i, c in enumerate(cells):
        groups.setdefault((c["depth"], c["d0"], c["d1"]), []).append(i)

    def sweep(trials, steps, what):
        out, seconds = {}, {}
        for (depth, d0, d1), idx in groups.items():
            t0 = time.perf_counter()
            sub = [cells[i] for i in idx]
            sizes = (max(c["n"] for c in sub), d0)
            cols = {
                "n": np.array([c["n"] for c in sub], np.int32),
                "d0": np.array([c["d0"] for c in sub], np.int32),
                "n_params": np.array([c["n_params"] for c in sub], np.int32),
            }
            res = ctx.device(
                device_fn(models.mlp(d0, d1, depth), sizes, cfg, steps),
                cols,
                seeds[idx],
                trials,
                chunk=device_chunk(cfg.chunk, sizes[0], d1 * (depth - 1)),
                desc=f"GD{what} L={depth} d0={d0} m={d1}",
                mesh=runtime.lapack_mesh(),
            )
            for k, v in res.items():
                out.setdefault(k, np.zeros((len(cells), trials), v.dtype))[idx] = v
            key = f"L{depth}_d0={d0}{what}"
            seconds[key] = seconds.get(key, 0.0) + time.perf_counter() - t0
        return out, seconds

    out, seconds = sweep(cfg.trials, cfg.steps, "")
    long = None
    if cfg.validate:
        long, more = sweep(
            min(cfg.validate, cfg.trials), VALIDATE_FACTOR * cfg.steps, " long"
        )
        seconds.update(more)
    cfg_d = dataclasses.asdict(cfg)
    summary = summarize(cells, out, cfg_d, long)
    body = {
        "training": "full-batch gradient descent (optax.sgd; Nesterov momentum if "
        "momentum > 0) on L = (1/2n) sum (F - y)^2, y iid N(0,1), theta = hidden "
        "layers (v fixed), step lr * n / lambda_max(J J^T) re-measured every "
        f"{SEGMENT} steps ({POWER} warm-started power iterations); stop at L <= "
        f"loss_tol * L(0) or the budget (checked every {SEGMENT} steps)",
        "rank_rule": "s_n(J) > max(n, P) * eps(float64) * s_1(J), singular values of J",
        "face_rule": "at the end point, the face is every (unit, point) whose "
        f"pre-activation changed sign at least twice in the last {SEGMENT} steps and "
        "ends within twice its largest one-step change of 0; J~ = J projected onto "
        "the null space of the face's pre-activation gradients; L_inf = the "
        "linearized flow's limit on the face, |r outside range(J~) live|^2/(2n), live "
        "by the rank rule (exact gradient flow at depth 2 while the face and region "
        "hold; an extrapolation otherwise, validated on runs with "
        f"{VALIDATE_FACTOR}x the budget)",
        "outcomes": {
            "reached": "(a) L <= loss_tol * L(0) within the budget",
            "flow_reaches": f"(a) not critical, L_inf <= loss_tol * L(0) / {BAND:g}",
            "critical_deficient": "(b) not reached, ||J~^T r|| <= grad_tol * s_1(J) "
            "||r||, rank J~ < n",
            "flow_deficient": f"(b) not critical, L_inf >= {BAND:g} * loss_tol * L(0)"
            " (the face's limit is a rank-deficient critical point)",
            "critical_full": "(c) not reached, critical, rank J~ = n "
            "(Lemma 1: borderline)",
            "budget": f"(d) undecided: L_inf within {BAND:g}x of loss_tol * L(0), or "
            f"more than {FACE_SLOTS}*N face pairs",
            "diverged": "(d) loss not finite",
        },
        "classes": {k: list(v) for k, v in CLASSES.items()},
        "metadata": {"sweep_seconds": seconds},
        "cells": summary,
    }
    if cfg.gm_regions:
        t0 = time.perf_counter()
        body["global_minima_cells"] = _gm_boundary(cfg, ctx)
        body["metadata"]["global_minima_seconds"] = time.perf_counter() - t0
    out["outcome"] = outcome(out, cfg_d)
    if long:
        out.update({f"long_{k}": v for k, v in long.items()})
        out["long_outcome"] = outcome(long, cfg_d)
    return body, out


def _heatmap(ax, sub, key):
    ns, d1s = sorted({c["n"] for c in sub}), sorted({c["d1"] for c in sub})
    img = np.full((len(d1s), len(ns)), np.nan)
    for c in sub:
        img[d1s.index(c["d1"]), ns.index(c["n"])] = c[key]
    from jaxnet import plotting

    im = ax.imshow(
        img, origin="lower", aspect="auto", cmap=plotting.CMAP, vmin=0, vmax=1
    )
    ax.set_xticks(range(len(ns)), [str(n) for n in ns], rotation=90, fontsize=7)
    ax.set_yticks(range(len(d1s)), [str(d) for d in d1s], fontsize=7)
    return im, ns, d1s


def _panels(cells):
    return list(dict.fromkeys((c["depth"], c["panel"]) for c in cells))


def _panel_rows(cells, depth, panel) -> list[int]:
    """The rows of the trial arrays that belong to one (depth, panel)."""
    return [
        i for i, c in enumerate(cells) if (c["depth"], c["panel"]) == (depth, panel)
    ]


def plot(results: dict, arrays: dict) -> dict:
    """``gd_boundaries.png`` (P(GD reaches a global min) with GD's, Figure 4's and
    Figures 5/6's p = 1/2 boundaries), ``gd_classes.png`` (P(rank-deficient critical
    point) and the time to reach) and ``gd_losses.png`` (final loss by outcome)."""
    import matplotlib.pyplot as plt

    from jaxnet import plotting

    cells = results["cells"]
    gm = results.get("global_minima_cells", [])
    panels = _panels(cells)
    cfg = results["config"]
    figs = {}
    with plt.rc_context(plotting.STYLE):
        fig, axes = plotting.axes_grid(1, len(panels), (3.6 * len(panels) + 0.6, 3.8))
        for ax, (depth, panel) in zip(axes[0], panels, strict=True):
            sub = [c for c in cells if c["panel"] == panel and c["depth"] == depth]
            im, ns, d1s = _heatmap(ax, sub, "p")
            x = np.arange(len(ns))
            ax.plot(
                x,
                stats.grid_crossing(sub, ns, d1s, "p"),
                "w-",
                lw=2,
                label="GD reaches",
            )
            ax.plot(
                x,
                stats.grid_crossing(sub, ns, d1s, "p_full_rank_init"),
                "r--",
                lw=1.5,
                label="full-rank J at init (Fig. 4)",
            )
            gsub = [c for c in gm if c["panel"] == panel]
            if gsub and depth == 2:
                ax.plot(
                    x,
                    stats.grid_crossing(gsub, ns, d1s, "p"),
                    "k:",
                    lw=1.8,
                    label="region holds a global min (Fig. 5/6)",
                )
            ax.set(xlabel="n", ylabel="$d_1$", title=f"L = {depth}, {panel}")
            ax.legend(fontsize=6, loc="upper left")
        fig.colorbar(im, ax=axes[0].tolist(), label="P(GD reaches a global min)")
        fig.suptitle(
            f"gradient descent to its end (depth {panels[0][0]}): "
            f"{cfg['trials']} initializations/cell, {cfg['steps']} steps, then the "
            "face rule;\nlines: p = 1/2"
            + ("" if panels[0][0] == 2 else " (Figures 5/6: depth 2 only)"),
            fontsize=9,
        )
        figs["gd_boundaries.png"] = fig

        code = arrays["outcome"]
        # the time to reach: in the budget, or the face rule's extrapolation
        reach = np.where(code == 0, arrays["time"], arrays["face_reach"])
        fig, axes = plotting.axes_grid(2, len(panels), (3.6 * len(panels) + 0.6, 6.6))
        for k, (depth, panel) in enumerate(panels):
            sub = [c for c in cells if c["panel"] == panel and c["depth"] == depth]
            im, _, _ = _heatmap(axes[0, k], sub, "p_deficient")
            axes[0, k].set(xlabel="n", ylabel="$d_1$", title=f"L = {depth}, {panel}")
            idx = _panel_rows(cells, depth, panel)
            ax = axes[1, k]
            bins = np.linspace(0, 20, 61)
            for i, label in (
                (0, "in the budget"),
                (OUTCOMES.index("flow_reaches"), "face rule"),
            ):
                sel = reach[idx][code[idx] == i]
                sel = sel[np.isfinite(sel) & (sel > 0)]
                if sel.size:
                    ax.hist(
                        np.log10(sel),
                        bins=bins,
                        alpha=0.6,
                        label=f"{label} ({sel.size})",
                    )
            ax.set(xlabel="log10 time to reach / τ0", ylabel="runs")
            ax.legend(fontsize=6)
        fig.colorbar(im, ax=axes[0].tolist(), label="P(rank-deficient critical point)")
        fig.suptitle(
            "class (b) and the gradient-flow time to reach (τ0 = n / s_1(J0)²)",
            fontsize=9,
        )
        figs["gd_classes.png"] = fig

        fig, axes = plotting.axes_grid(1, len(panels), (3.4 * len(panels), 3.0))
        loss = arrays["loss"]
        for ax, (depth, panel) in zip(axes[0], panels, strict=True):
            idx = _panel_rows(cells, depth, panel)
            vals = np.log10(np.maximum(loss[idx], 1e-20))
            bins = np.linspace(-12, 1, 40)
            for i, name in enumerate(OUTCOMES):
                sel = vals[(code[idx] == i) & np.isfinite(vals)]
                if sel.size:
                    ax.hist(sel, bins=bins, alpha=0.6, label=f"{name} ({sel.size})")
            ax.set(
                xlabel="log10 final L / L(0)",
                ylabel="trials",
                title=f"L = {depth}, {panel}",
            )
            ax.legend(fontsize=6)
        figs["gd_losses.png"] = fig
    return figs


def report(results: dict) -> str:
    from jaxnet import claims

    cells = results["cells"]
    tot = {k: sum(c["classes"][k] for c in cells) for k in CLASSES}
    changed, validated = claims.gd_rule_error(cells)
    return (
        f"{runtime.report_head(results, 'trials', 'runs')}; classes {tot}; the face "
        f"rule changed class in {changed} of {validated} runs rerun {VALIDATE_FACTOR}x longer; "
        "gradient-bound "
        f"violations {sum(c['gradient_bound_violations'] for c in cells)}"
    )


def train(
    *, out=None, progress: bool = False, workers: int = 0, **config
) -> runtime.Result:
    """The gradient-descent experiment in one call. Keyword arguments are ``Config``'s.

    Example:
      >>> from jaxnet.experiments import gradient_descent
      >>> res = gradient_descent.train(d0=[2], n=[10], d1=[10, 40], trials=5,
      ...                              steps=200, validate=0, gm_regions=0, workers=1)
      >>> [sum(c.values()) for c in res.column("classes")]  # (a)-(d) for every run
      [5, 5]
    """
    return runtime.run(
        sys.modules[__name__],
        Config(**config),
        runtime.Options(out=out, progress=progress, workers=workers),
    )
