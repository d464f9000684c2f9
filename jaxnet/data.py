"""Input laws, drawn by ``jaxnet.prng`` from explicit (row, coordinate) counters.

So the first rows and coordinates of a larger sample equal a smaller sample, and a
padded sweep reproduces, cell by cell, what an unpadded run of that cell draws.

Each law is one function ``law(words, dtype, coords) -> (R, D)`` in ``LAWS``: it turns
the random words of a ``(R, D)`` draw (``prng.stream_bits``) into points whose
coordinates outside the 0/1 mask ``coords: (D,)`` are zero (the padded coordinates of a
sweep). The rank experiments name a law in their ``nets.Convention``; the samplers
below draw a law from a key. Adding an input law is one function and one line in
``LAWS``; ``nets.register_convention`` then makes it a convention.

- ``gaussian``: x iid N(0, I_d)                     (``paper`` convention)
- ``uniform``: x iid U[0, 1)^d                      (``peer`` convention)
- ``sphere``: x uniform on the unit sphere S^{d−1}  (teacher–student)
"""

from __future__ import annotations

import jax.numpy as jnp

from jaxnet import checks, prng
from jaxnet.types import Array


def gaussian_law(words, dtype, coords) -> Array:
    """iid N(0, 1) coordinates."""
    return prng.normal(words, dtype) * coords[None, :]


def uniform_law(words, dtype, coords) -> Array:
    """iid U[0, 1) coordinates."""
    return prng.uniform(words, dtype) * coords[None, :]


def sphere_law(words, dtype, coords) -> Array:
    """Uniform on the unit sphere of the unmasked coordinates (normalized Gaussians)."""
    g = gaussian_law(words, dtype, coords)
    return g / jnp.linalg.norm(g, axis=-1, keepdims=True)


LAWS = {"gaussian": gaussian_law, "uniform": uniform_law, "sphere": sphere_law}


def sample(law: str, key, n: int, d: int, *, dtype=None) -> Array:
    """``(n, d)`` iid points of the law named ``law`` (a key of ``LAWS``)."""
    if law not in LAWS:
        raise ValueError(f"law must be one of {tuple(LAWS)}; got {law!r}")
    checks.positive_int("n", n)
    checks.positive_int("d", d)
    dtype = dtype or jnp.result_type(float)
    words = prng.stream_bits(key, {"x": (n, d)})["x"]
    return LAWS[law](words, dtype, jnp.ones((d,), dtype))


def gaussian(key, n: int, d: int, *, dtype=None) -> Array:
    """``(n, d)`` iid standard Gaussian."""
    return sample("gaussian", key, n, d, dtype=dtype)


def uniform_box(key, n: int, d: int, *, low=0.0, high=1.0, dtype=None) -> Array:
    """``(n, d)`` iid uniform on ``[low, high)``."""
    if checks.real("low", low) >= checks.real("high", high):
        raise ValueError(f"high must be > low; got low={low}, high={high}")
    return low + (high - low) * sample("uniform", key, n, d, dtype=dtype)


def sphere(key, n: int, d: int, *, dtype=None) -> Array:
    """``(n, d)`` iid uniform on the unit sphere S^{d−1} (normalized Gaussians)."""
    return sample("sphere", key, n, d, dtype=dtype)


def append_one(xs: Array) -> Array:
    """x̃ = (x, 1): ``(n, d) -> (n, d + 1)``, the slides' bias convention."""
    return jnp.concatenate([xs, jnp.ones((*xs.shape[:-1], 1), xs.dtype)], axis=-1)
