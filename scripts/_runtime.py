"""Process settings every script applies before NumPy or JAX start (import this first).

- BLAS single-threaded: NumPy's SVDs and the solvers' linear algebra run 5–7× faster
  here when their threads do not fight XLA's (and once per worker process).
- XLA:CPU's multi-threaded Eigen pool can wedge on vmapped programs (a block never
  finishes, at 0% CPU; seen with jax 0.10.2): run Eigen single-threaded.

Values already set in the environment are kept.
"""

import os


def configure() -> None:
    for var in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    flags = os.environ.get("XLA_FLAGS", "")
    if "xla_cpu_multi_thread_eigen" not in flags:
        os.environ["XLA_FLAGS"] = (flags + " --xla_cpu_multi_thread_eigen=false").strip()
