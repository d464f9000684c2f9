"""Minimal reproduction of the XLA:CPU deadlock that shapes jaxnet's Cholesky choice.

A batched LAPACK Cholesky (``lax.linalg.cholesky`` on a (B, N, N) array, i.e. the
``lapack_?potrf_ffi`` custom call) inside ``shard_map`` over two XLA:CPU devices of one
process hangs at 0% CPU, usually on the second call (jax/jaxlib 0.10.2, 2-core x86_64):

    python scripts/repro_xla_cpu_deadlock.py            # 2 devices, B=32, N=100: hangs
    python scripts/repro_xla_cpu_deadlock.py --devices 1            # finishes
    python scripts/repro_xla_cpu_deadlock.py --batch 1              # finishes
    python scripts/repro_xla_cpu_deadlock.py --size 8               # finishes

Seen here (2026-12-02): B=32, N=100 hung 4 of 4 runs (float32 and float64), B=4,
N=100, float64 hung 1 of 1; B=1 or N ≤ 64, or one device, or a plain ``jit`` of the
same batched call on a sharded array, finished every time; B=4, N=100, float32 hung
once and then finished 6 of 6 (it is a race). A native backtrace (gdb, ``thread apply
all bt``) of a hung run shows both devices' ``CustomCallThunk``s inside
``jax::CholeskyFactorization<…>::Kernel`` → ``jax::ParallelBatchMap(xla::ffi::ThreadPool,
…)`` → ``absl::BlockingCounter::Wait()``: each splits its batch over the FFI's intra-op
thread pool and waits for pieces that are never run, while the pool's Eigen workers sit
in ``WaitForWork``. So a kernel that fans a batch out into the pool it is called from
waits on itself (the same shape as the FFT deadlock found upstream in
PyAutoLabs/PyAutoFit#1530, ``FftThunk`` re-entering the Eigen pool).

jaxnet's answer (``jacobian.default_cholesky``): LAPACK when a process has one device,
the blocked Cholesky in plain XLA ops on several CPU devices, one program in flight at
a time, and the runner's ``--stall-timeout`` watchdog as the net for anything else.
Exit status: 0 if every call finished, 1 if the run made no progress for ``--timeout``.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--devices", type=int, default=2, help="XLA:CPU devices")
    ap.add_argument("--batch", type=int, default=32, help="matrices per device")
    ap.add_argument("--size", type=int, default=100, help="matrix size N")
    ap.add_argument("--calls", type=int, default=100, help="calls of the program")
    ap.add_argument(
        "--timeout", type=float, default=30.0, help="seconds without progress"
    )
    a = ap.parse_args(argv)
    os.environ["XLA_FLAGS"] = (
        os.environ.get("XLA_FLAGS", "")
        + f" --xla_force_host_platform_device_count={a.devices}"
    )
    import jax
    import jax.numpy as jnp
    import numpy as np
    from jax.sharding import Mesh, PartitionSpec

    mesh = Mesh(np.array(jax.devices()), ("d",))
    chol = jax.jit(
        jax.shard_map(
            lambda m: jax.lax.linalg.cholesky(m, symmetrize_input=False),
            mesh=mesh,
            in_specs=PartitionSpec("d"),
            out_specs=PartitionSpec("d"),
        )
    )
    x = jnp.broadcast_to(jnp.eye(a.size), (a.devices * a.batch, a.size, a.size))
    last = [time.monotonic(), 0]

    def watch():
        while True:
            time.sleep(1.0)
            if time.monotonic() - last[0] > a.timeout:
                print(
                    f"deadlock: call {last[1]} made no progress for {a.timeout:g} s "
                    f"({a.devices} devices, batch {a.batch}, N={a.size})",
                    flush=True,
                )
                os._exit(1)

    threading.Thread(target=watch, daemon=True).start()
    for i in range(a.calls):
        last[1] = i
        jax.block_until_ready(chol(x + i))
        last[0] = time.monotonic()
    print(
        f"finished {a.calls} calls ({a.devices} devices, batch {a.batch}, N={a.size})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
