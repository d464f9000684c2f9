"""Test rules: float64, strict rank promotion, 4 fake CPU devices, Agg backend."""

import os
import zlib

for _var in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # see scripts/full_rank.py

import jax
import matplotlib
import pytest

jax.config.update("jax_enable_x64", True)
jax.config.update("jax_numpy_rank_promotion", "raise")
jax.config.update("jax_num_cpu_devices", 4)  # before any JAX computation
matplotlib.use("Agg")


@pytest.fixture
def key(request):
    return jax.random.key(zlib.crc32(request.node.nodeid.encode()))
