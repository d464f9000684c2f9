"""Teacher networks of the teacher–student experiments: one registry.

A teacher is a bias-free network f*(x) = Σⱼ a*ⱼ σ(⟨b*ⱼ, x⟩) stored balanced
(|a*ⱼ| = ‖b*ⱼ‖ = 1, so ‖a*ⱼ b*ⱼ‖ = 1) as NumPy ``{'w': (m0, d), 'v': (m0,)}``.

A family is a function ``make(rng, m0, d)`` registered with its properties
(``Family``): the input dimensions it exists in (``dims``; None: every d) and whether
it is random (drawn from ``rng``) or the same teacher on every call. Experiments take
their ``--teacher``/``--teachers`` choices from the registry by property
(``names(d=2, random=False)``), so a registered family appears in every experiment it
can run in, and in no other::

    teachers.register_teacher("pair", lambda rng, m0, d: ..., dims=(2,))

Re-registering an identical family is a no-op; a different one under a taken name is
refused.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

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


@dataclasses.dataclass(frozen=True)
class Family:
    """A teacher family and the properties experiments select it by."""

    name: str
    make: Callable  # (rng, m0, d) -> {'w': (m0, d), 'v': (m0,)}
    dims: tuple[int, ...] | None = None  # input dimensions it exists in; None: all
    random: bool = False  # drawn from rng (else the same teacher on every call)

    def supports(self, d: int) -> bool:
        return self.dims is None or d in self.dims


TEACHERS: dict[str, Family] = {}


def register_teacher(
    name: str, make: Callable, *, dims=None, random: bool = False
) -> Family:
    """Add a family to ``TEACHERS`` (module docstring); returns its record."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"name must be a non-empty string; got {name!r}")
    if not callable(make):
        raise ValueError(f"make must be callable (rng, m0, d) -> dict; got {make!r}")
    fam = Family(
        name, make, None if dims is None else tuple(int(d) for d in dims), bool(random)
    )
    if name in TEACHERS:
        if TEACHERS[name] == fam:
            return TEACHERS[name]
        raise ValueError(
            f"name {name!r} is already a registered teacher family ({TEACHERS[name]!r})"
        )
    TEACHERS[name] = fam
    return fam


def names(*, d: int | None = None, random: bool | None = None) -> tuple[str, ...]:
    """The registered families that exist in dimension ``d`` and whose randomness is
    ``random`` (None: either), in registration order."""
    return tuple(
        f.name
        for f in TEACHERS.values()
        if (d is None or f.supports(d)) and (random is None or f.random == random)
    )


def fixed_2d() -> tuple[str, ...]:
    """The families of the report's d = 2 experiments: fixed (the same teacher for every
    seed, so its sectors are the experiment's) and defined in d = 2."""
    return names(d=2, random=False)


register_teacher("report", report, dims=(2,))
register_teacher("mixed", mixed, dims=(2,))
register_teacher("random", random, random=True)


def make(family: str, m0: int, d: int, rng: np.random.Generator | None = None) -> dict:
    """The teacher of ``family`` with ``m0`` neurons in dimension ``d`` (``rng``: the
    generator a random family draws from).

    Example:
      >>> from jaxnet.teacher_student import teachers
      >>> t = teachers.make("report", 3, 2)
      >>> t["w"].round(3).tolist(), t["v"].tolist()
      ([[1.0, 0.0], [-0.5, 0.866], [-0.5, -0.866]], [1.0, 1.0, 1.0])
      >>> teachers.names(d=3)
      ('random',)
    """
    if family not in TEACHERS:
        raise ValueError(
            f"teacher family must be one of {tuple(TEACHERS)}; got {family!r}"
        )
    fam = TEACHERS[family]
    if not fam.supports(d):
        raise ValueError(
            f"d: teacher {family!r} exists only in d in {fam.dims}; got {d}"
        )
    if fam.random and rng is None:
        raise ValueError(f"rng: teacher {family!r} is random and needs a generator")
    return fam.make(rng, m0, d)
