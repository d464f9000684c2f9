"""Teacher–student metrics of the report (Song & Lee): alignment, condensation, κ(f).

Networks are bias-free: f(x) = Σ_i a_i σ(⟨b_i, x⟩), as ``jaxnet.nets`` params
``{'w': B (m, d), 'v': a (m,)}`` (no ``'b'`` key). Host-side NumPy: these run on
trained results, not in the training loop.

- ``alignment``: for each student neuron, the teacher direction ±b*_k/‖b*_k‖ nearest to
  b_i/‖b_i‖ and the angle to it;
- ``condensation``: Definition 4.1 with an angle tolerance: every neuron that carries
  weight (‖a_i b_i‖ > ``mass_tol`` · Σ_j ‖a_j b_j‖) lies within ``angle_tol`` of some
  ±b*_k; per teacher k, Σ ‖a_i b_i‖ over its group (Proposition 4.2 says 1);
- ``kappa``: κ(f) of Remark 4.3 (d = 2), exactly, from the network's breakpoints.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from jaxnet import checks, nets

DEFAULT_ANGLE_TOL = 5e-2  # radians (about 3 degrees; SGD solutions sit ~0.01-0.03 off)
DEFAULT_MASS_TOL = 1e-3  # fraction of the total Σ ‖a_i b_i‖


def neuron_mass(params) -> np.ndarray:
    """‖a_i b_i‖ per neuron."""
    return np.abs(np.asarray(params["v"])) * np.linalg.norm(
        np.asarray(params["w"]), axis=1
    )


def squared_norm(params) -> float:
    """‖θ‖² = Σ a_i² + ‖b_i‖² (the report's ‖θ‖₂, squared)."""
    return float(
        np.sum(np.asarray(params["v"]) ** 2) + np.sum(np.asarray(params["w"]) ** 2)
    )


def alignment(params, b_star, *, xp=np):
    """``(teacher index k, sign ±1, angle)`` of each student neuron's nearest ±b*_k.

    ``xp`` is the array module: ``numpy`` on the host, ``jax.numpy`` inside a jitted
    loop (the stopping rule of ``jaxnet.teacher_student.train.until_stationary``)."""
    dtype = np.float64 if xp is np else None
    b = xp.asarray(params["w"], dtype=dtype)
    t = xp.asarray(b_star, dtype=dtype)
    u = b / xp.maximum(xp.sqrt(xp.sum(b * b, axis=1, keepdims=True)), 1e-300)
    ut = t / xp.sqrt(xp.sum(t * t, axis=1, keepdims=True))
    cos = xp.clip(u @ ut.T, -1.0, 1.0)  # (m, m0)
    k = xp.argmax(xp.abs(cos), axis=1)
    c = xp.take_along_axis(cos, k[:, None], axis=1)[:, 0]
    return k, xp.sign(c).astype(int), xp.arccos(xp.abs(c))


def mass_and_angle(params, b_star, *, xp=np):
    """``(mass, angle)`` per student neuron: ‖a_i b_i‖ and the angle of b_i to the
    nearest ±b*_k (``alignment``), in the array module ``xp``."""
    b = xp.asarray(params["w"])
    mass = xp.abs(xp.asarray(params["v"])) * xp.sqrt(xp.sum(b * b, axis=1))
    return mass, alignment(params, b_star, xp=xp)[2]


def mass_weighted_angle(params, b_star, *, xp=np):
    """Σ_i ‖a_i b_i‖·∠(b_i, ±b*) / Σ_i ‖a_i b_i‖ (rad): the mean angle of the student's
    mass to the nearest teacher direction (0 iff all its mass is on them)."""
    mass, angle = mass_and_angle(params, b_star, xp=xp)
    return xp.sum(mass * angle) / xp.maximum(xp.sum(mass), 1e-300)


def aligned_fraction(params, b_star, angle_tol=DEFAULT_ANGLE_TOL, *, xp=np):
    """The fraction of Σ_i ‖a_i b_i‖ on neurons within ``angle_tol`` of some ±b*_k."""
    mass, angle = mass_and_angle(params, b_star, xp=xp)
    return xp.sum(xp.where(angle <= angle_tol, mass, 0.0)) / xp.maximum(
        xp.sum(mass), 1e-300
    )


class Condensation(NamedTuple):
    condensed: bool  # Definition 4.1 at the given tolerances
    group_mass: np.ndarray  # (m0,) Σ ‖a_i b_i‖ over neurons aligned (±) with teacher k
    max_angle: (
        float  # largest angle of a weight-carrying neuron to its teacher direction
    )
    stray_mass: float  # Σ ‖a_i b_i‖ of weight-carrying neurons outside every group


def condensation(
    params, b_star, *, angle_tol=DEFAULT_ANGLE_TOL, mass_tol=DEFAULT_MASS_TOL
) -> Condensation:
    """Definition 4.1: is every weight-carrying neuron (mass > ``mass_tol`` of the
    total) within ``angle_tol`` radians of ±b*_k for some teacher neuron k?"""
    nets.check_network(params)
    checks.array("b_star", b_star, shape=(None, np.shape(params["w"])[1]), kind="real")
    checks.real("angle_tol", angle_tol, low=0.0, high=np.pi / 2)
    checks.real("mass_tol", mass_tol, low=0.0, high=1.0)
    mass = neuron_mass(params)
    k, _, angle = alignment(params, b_star)
    live = mass > mass_tol * max(mass.sum(), 1e-300)
    inside = live & (angle <= angle_tol)
    group = np.bincount(k[inside], weights=mass[inside], minlength=len(b_star))
    stray = float(mass[live & ~inside].sum())
    return Condensation(
        bool(np.all(angle[live] <= angle_tol)),
        group,
        float(angle[live].max()) if live.any() else 0.0,
        stray,
    )


def breakpoints(params) -> tuple[np.ndarray, np.ndarray]:
    """Angles on S¹ where neurons switch, and the jump of ∇f there (d = 2).

    Neuron i (b_i at angle φ_i) is active on (φ_i − π/2, φ_i + π/2): going
    counter-clockwise ∇f jumps by +a_i b_i at φ_i − π/2 and by −a_i b_i at φ_i + π/2.
    Returns ``(angles (2m,), jumps (2m, 2))`` for neurons with b_i ≠ 0 and a_i ≠ 0.
    """
    b = np.asarray(params["w"], np.float64)
    a = np.asarray(params["v"], np.float64)
    keep = (np.linalg.norm(b, axis=1) > 0) & (a != 0)
    b, a = b[keep], a[keep]
    phi = np.arctan2(b[:, 1], b[:, 0])
    ab = a[:, None] * b
    angles = np.mod(np.concatenate([phi - np.pi / 2, phi + np.pi / 2]), 2 * np.pi)
    return angles, np.concatenate([ab, -ab])


def kappa(params, *, merge_tol: float = 1e-9) -> float:
    """κ(f) = Σ over breakpoints θ of ‖∇f(θ⁺) − ∇f(θ⁻)‖ on S¹ (Remark 4.3), exactly.

    Jumps at angles closer than ``merge_tol`` (radians) are summed as one breakpoint
    (neurons sharing a direction); a zero total jump is no discontinuity.
    """
    angles, jumps = breakpoints(params)
    if len(angles) == 0:
        return 0.0
    order = np.argsort(angles)
    angles, jumps = angles[order], jumps[order]
    new = np.r_[True, np.diff(angles) > merge_tol]
    group = np.cumsum(new) - 1
    # the last group may wrap around to the first
    if len(angles) > 1 and angles[0] + 2 * np.pi - angles[-1] <= merge_tol:
        group[group == group[-1]] = 0
    total = np.zeros((group.max() + 1, 2))
    np.add.at(total, group, jumps)
    return float(np.linalg.norm(total, axis=1).sum())


def function_distance(params_a, params_b, *, n_quad: int = 1 << 16) -> float:
    """√(E_x (f_a(x) − f_b(x))²) over x uniform on S¹, by the midpoint rule on
    ``n_quad`` angles (the integrand is piecewise smooth; error O(1/n_quad))."""
    t = (np.arange(n_quad) + 0.5) * 2 * np.pi / n_quad
    x = np.stack([np.cos(t), np.sin(t)], axis=1)
    return float(np.sqrt(np.mean((evaluate(params_a, x) - evaluate(params_b, x)) ** 2)))


def evaluate(params, x) -> np.ndarray:
    """f(x) = Σ a_i σ(⟨b_i, x⟩) for ``x: (n, d)`` (NumPy)."""
    return np.maximum(np.asarray(x) @ np.asarray(params["w"]).T, 0.0) @ np.asarray(
        params["v"]
    )
