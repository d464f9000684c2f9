"""Trial keys: every trial's randomness from (base key, cell seed, trial index).

Trial ``t`` of a cell gets the key ``hash(base_key; cell_seed, t)`` (``trial_key``),
``cell_seed`` a hash of the cell's own values, so a trial's randomness depends on
neither the chunk size, nor the device or process count, nor which other cells share
the sweep. JAX keys are the only random-number system: host-side trials get a NumPy
generator seeded from their key's data (``host_rng``).
"""

from __future__ import annotations

import zlib

import jax
import jax.numpy as jnp
import numpy as np

from jaxnet import prng


def cell_seed(*values) -> int:
    """A 31-bit seed from a cell's defining values (stable across runs and grids)."""
    text = ",".join(repr(v) for v in values)
    return zlib.crc32(text.encode()) & 0x7FFFFFFF


def trial_key(base_key, seed, trial):
    """The key of trial ``trial`` of the cell with seed ``seed`` (one Threefry hash)."""
    return prng.derive_key(base_key, seed, trial)


def trial_key_data(base_key, seeds, n_trials: int) -> np.ndarray:
    """``(C, n_trials, 2)`` uint32: the key data of every trial of every cell (one
    vectorized call; ``seeds`` are the cells' ``cell_seed``)."""
    seeds = jnp.asarray(np.asarray(seeds, np.uint32))
    trials = jnp.arange(n_trials, dtype=jnp.uint32)
    keys = jax.vmap(lambda s: jax.vmap(lambda t: trial_key(base_key, s, t))(trials))(
        seeds
    )
    return np.asarray(jax.random.key_data(keys))


def host_rng(key_data) -> np.random.Generator:
    """The NumPy generator of a host-side trial, seeded from its JAX key's data."""
    return np.random.default_rng(np.asarray(key_data, np.uint32).ravel().tolist())
