"""Input samplers, drawn by ``jaxnet.prng`` from explicit (row, coordinate) counters.

So the first rows and coordinates of a larger sample equal a smaller sample, and a
padded sweep reproduces, cell by cell, what an unpadded run of that cell draws.

- ``gaussian``: x iid N(0, I_d)                     (``paper`` convention)
- ``uniform_box``: x iid U[low, high)^d            (``peer`` convention: U[0, 1)^d)
- ``sphere``: x uniform on the unit sphere S^{d−1}  (teacher–student)
"""

from __future__ import annotations

import jax.numpy as jnp

from jaxnet import checks, prng
from jaxnet.types import Array


def _dtype(dtype):
    return dtype or jnp.result_type(float)


def _sizes(n, d):
    checks.positive_int("n", n)
    checks.positive_int("d", d)


def gaussian(key, n: int, d: int, *, dtype=None) -> Array:
    """``(n, d)`` iid standard Gaussian."""
    _sizes(n, d)
    return prng.normal(prng.stream_bits(key, {"x": (n, d)})["x"], _dtype(dtype))


def uniform_box(key, n: int, d: int, *, low=0.0, high=1.0, dtype=None) -> Array:
    """``(n, d)`` iid uniform on ``[low, high)``."""
    _sizes(n, d)
    if checks.real("low", low) >= checks.real("high", high):
        raise ValueError(f"high must be > low; got low={low}, high={high}")
    u = prng.uniform(prng.stream_bits(key, {"x": (n, d)})["x"], _dtype(dtype))
    return low + (high - low) * u


def sphere(key, n: int, d: int, *, dtype=None) -> Array:
    """``(n, d)`` iid uniform on the unit sphere S^{d−1} (normalized Gaussians)."""
    g = gaussian(key, n, d, dtype=dtype)
    return g / jnp.linalg.norm(g, axis=-1, keepdims=True)


def append_one(xs: Array) -> Array:
    """x̃ = (x, 1): ``(n, d) -> (n, d + 1)``, the slides' bias convention."""
    return jnp.concatenate([xs, jnp.ones((*xs.shape[:-1], 1), xs.dtype)], axis=-1)
