"""Test rules: float64, strict rank promotion, 4 fake CPU devices, Agg backend."""

import os
import zlib

for _var in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
# XLA:CPU's multi-threaded Eigen pool can wedge on vmapped programs (a block never
# finishes, at 0% CPU; seen here with jax 0.10.2): run Eigen single-threaded.
if "xla_cpu_multi_thread_eigen" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "")
                               + " --xla_cpu_multi_thread_eigen=false").strip()

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
