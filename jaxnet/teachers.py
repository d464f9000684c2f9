"""Teacher networks of the teacher–student experiments: one registry.

A teacher is a bias-free network f*(x) = Σⱼ a*ⱼ σ(⟨b*ⱼ, x⟩) stored balanced
(|a*ⱼ| = ‖b*ⱼ‖ = 1, so ‖a*ⱼ b*ⱼ‖ = 1) as NumPy ``{'w': (m0, d), 'v': (m0,)}``. Each
family is one function ``family(rng, m0, d)``; adding a family is one function and one
line in ``TEACHERS``, and every experiment's ``--teacher``/``--teachers`` choices follow.
"""

from __future__ import annotations

import numpy as np


def _equiangular(m0: int, d: int, family: str) -> np.ndarray:
    if d != 2:
        raise ValueError(f"teacher {family!r} is two-dimensional; got d = {d}")
    ang = 2 * np.pi * np.arange(m0) / m0
    return np.stack([np.cos(ang), np.sin(ang)], axis=1)


def report(rng, m0: int, d: int) -> dict:
    """The report's teacher: m0 directions equally spaced on S¹ (120° for m0 = 3),
    all a*ⱼ = +1."""
    return {"w": _equiangular(m0, d, "report"), "v": np.ones(m0)}


def mixed(rng, m0: int, d: int) -> dict:
    """The report's directions with signs alternating +1, −1."""
    return {
        "w": _equiangular(m0, d, "mixed"),
        "v": np.where(np.arange(m0) % 2, -1.0, 1.0),
    }


def random(rng: np.random.Generator, m0: int, d: int) -> dict:
    """Directions uniform on S^{d−1}, signs fair ±1 (drawn from ``rng``)."""
    w = rng.standard_normal((m0, d))
    return {
        "w": w / np.linalg.norm(w, axis=1, keepdims=True),
        "v": rng.choice([-1.0, 1.0], size=m0),
    }


TEACHERS = {"report": report, "mixed": mixed, "random": random}
TWO_D_ONLY = ("report", "mixed")


def make(family: str, m0: int, d: int, rng: np.random.Generator | None = None) -> dict:
    """The teacher of ``family`` with ``m0`` neurons in dimension ``d``."""
    if family not in TEACHERS:
        raise ValueError(
            f"teacher family must be one of {tuple(TEACHERS)}; got {family!r}"
        )
    return TEACHERS[family](rng, m0, d)
