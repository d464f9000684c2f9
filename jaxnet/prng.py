"""Counter-based draws: element (r, c) of stream s is a pure function of (key, s, r, c).

jaxnet draws every array of a trial with one Threefry-2x32 hash call over explicit
counters ``(s·2²⁴ + r, c)``. So

- a padded draw of shape (R, C) equals, on its leading (r, c) block, the unpadded draw
  (the Monte-Carlo sweeps run grids of sizes in one program by padding and masking);
- the streams of one key never overlap (disjoint counters);
- a whole trial's randomness compiles to a handful of hash calls (each call site of a
  ``jax.random`` sampler costs ~0.15 s of XLA compile time on a 2-core CPU).

Floats: uniform [0, 1) from the top 23 (float32) or 52 (float64) bits; standard normal
by √2·erfinv(2u − 1) with u strictly inside (0, 1).

The stream layout of a rank trial's key (``TRIAL_STREAMS``, the one place it is
written down; changing it changes every number the rank experiments report)::

    0  w     layer-1 weights      (nets.param_shapes)      one stream_bits call:
    1  b     layer-1 biases                                  the trial's parameters
    2  v     output weights                                  and data together
    3  x     the data             (rank.fig4.sample_trial)
    4, 5, …  hidden layers l = 2, 3, … of depth-L models   (models.mlp)
    40       gradient descent's targets y                  (experiments.gradient_descent)

    the key derived with INTEGER_DATA_TAG: a trial's integer data (rank.fig4)

Other draws take a key of their own and start at stream 0 (``data.sample``,
``teacher_student.train.init_student``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.extend.random import threefry_2x32

from jaxnet.types import Array

_STREAM_SHIFT = 24
MAX_ROWS = 1 << _STREAM_SHIFT

TRIAL_STREAMS = ("w", "b", "v", "x")  # streams 0-3 of a rank trial (module docstring)
FIRST_LAYER_STREAM = 4  # hidden layer l = 2 of a depth-L model; l = 3 is 5, ...
TARGET_STREAM = 40  # gradient descent's targets y
INTEGER_DATA_TAG = (0x65786163, 1)  # derive_key tag of a trial's integer data


def _keypair(key) -> Array:
    if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        return jax.random.key_data(key)
    return key


def hash_words(key, word0: Array, word1: Array) -> tuple[Array, Array]:
    """Threefry-2x32 of counter pairs ``(word0[k], word1[k])`` under ``key``.

    Returns the two output words, each with the shape of ``word0``.
    """
    shape = word0.shape
    count = jnp.concatenate([word0.ravel(), word1.ravel()]).astype(jnp.uint32)
    out = threefry_2x32(_keypair(key), count)
    half = count.shape[0] // 2
    return out[:half].reshape(shape), out[half:].reshape(shape)


def derive_key(key, a, b):
    """A new key from ``key`` and two uint32 values (one hash; like two ``fold_in``)."""
    hi, lo = hash_words(
        key,
        jnp.asarray(a, jnp.uint32).reshape(1),
        jnp.asarray(b, jnp.uint32).reshape(1),
    )
    return jax.random.wrap_key_data(jnp.concatenate([hi, lo]))


def stream_bits(
    key, shapes: dict[str, tuple[int, int]]
) -> dict[str, tuple[Array, Array]]:
    """Random words for several named (rows, cols) arrays, in one hash call.

    The i-th name (in the dict's order) is stream i: counters ``(i·2²⁴ + r, c)``.
    Returns ``{name: (hi, lo)}`` uint32 arrays of shape (rows, cols).
    """
    w0, w1, sizes = [], [], []
    for stream, (rows, cols) in enumerate(shapes.values()):
        if rows > MAX_ROWS:
            raise ValueError(f"at most {MAX_ROWS} rows per stream; got {rows}")
        r = jnp.arange(rows, dtype=jnp.uint32)[:, None] + jnp.uint32(
            stream << _STREAM_SHIFT
        )
        c = jnp.arange(cols, dtype=jnp.uint32)[None, :]
        w0.append(jnp.broadcast_to(r, (rows, cols)).ravel())
        w1.append(jnp.broadcast_to(c, (rows, cols)).ravel())
        sizes.append(rows * cols)
    hi, lo = hash_words(key, jnp.concatenate(w0), jnp.concatenate(w1))
    out, start = {}, 0
    for name, size in zip(shapes, sizes, strict=True):
        rows, cols = shapes[name]
        out[name] = (
            hi[start : start + size].reshape(rows, cols),
            lo[start : start + size].reshape(rows, cols),
        )
        start += size
    return out


def block_bits(key, stream: int, rows, cols) -> tuple[Array, Array]:
    """The words of elements (rows[i], cols[j]) of stream ``stream``: a block of what
    ``stream_bits`` draws for that stream (the same counters), ``(len(rows), len(cols))``.

    Lets a caller draw the units [start, start + B) of a network without the ones
    before (``rows``/``cols`` may be traced offsets).
    """
    rows = jnp.asarray(rows, jnp.uint32)[:, None] + jnp.uint32(stream << _STREAM_SHIFT)
    cols = jnp.asarray(cols, jnp.uint32)[None, :]
    shape = (rows.shape[0], cols.shape[1])
    return hash_words(key, jnp.broadcast_to(rows, shape), jnp.broadcast_to(cols, shape))


def uniform(words: tuple[Array, Array], dtype, *, open_interval=False) -> Array:
    """Uniform floats in [0, 1) (or (0, 1) with ``open_interval``) from ``(hi, lo)``."""
    hi, lo = words
    dtype = jnp.dtype(dtype)
    if dtype == jnp.float64:
        mant = (hi.astype(jnp.uint64) << 20) | (lo.astype(jnp.uint64) >> 12)
        one = jax.lax.bitcast_convert_type(
            mant | jnp.uint64(0x3FF0000000000000), jnp.float64
        )
        nbits = 52
    elif dtype == jnp.float32:
        one = jax.lax.bitcast_convert_type(
            (hi >> 9) | jnp.uint32(0x3F800000), jnp.float32
        )
        nbits = 23
    else:
        raise ValueError(f"dtype must be float32 or float64; got {dtype}")
    u = one - jnp.asarray(1.0, dtype)
    if open_interval:
        u = u + jnp.asarray(2.0**-nbits / 2, dtype)
    return u


def normal(words: tuple[Array, Array], dtype) -> Array:
    """Standard normal floats from ``(hi, lo)`` by the inverse CDF."""
    u = uniform(words, dtype, open_interval=True)
    return jnp.sqrt(jnp.asarray(2.0, u.dtype)) * jax.scipy.special.erfinv(2 * u - 1)
