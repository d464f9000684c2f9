"""Devices, meshes and processes: the 1-D device mesh, multi-process set-up, global
arrays and gathering results to every process."""

from __future__ import annotations

import jax
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec

DEVICE_AXIS = "dev"


def init_distributed(
    coordinator: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
) -> None:
    """Join a multi-process run (JAX's distributed runtime), before any computation.

    Every process runs the same command; each owns its local devices' share of every
    block, and results are all-gathered, so each process ends with the same numbers
    as a one-process run of the same seed. On CPU the collectives are Gloo's. With no
    arguments JAX detects the cluster (SLURM, Open MPI, TPU pods, ...).
    """
    if jax.config.jax_platforms in (None, "", "cpu") or "cpu" in str(
        jax.config.jax_platforms
    ):
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(
        coordinator_address=coordinator,
        num_processes=num_processes,
        process_id=process_id,
    )


def is_main_process() -> bool:
    """Process 0 writes files and shows progress; the others only compute."""
    return jax.process_index() == 0


def global_array(x, mesh, spec: PartitionSpec | None = None) -> jax.Array:
    """``x`` (the same NumPy value on every process) as an array on ``mesh``
    (replicated unless ``spec`` says otherwise)."""
    x = np.asarray(x)
    spec = PartitionSpec() if spec is None else spec
    return jax.make_array_from_callback(
        x.shape, NamedSharding(mesh, spec), lambda idx: x[idx]
    )


def gather(tree):
    """A pytree of (possibly multi-process) arrays as NumPy arrays, whole, on every
    process."""
    if jax.process_count() == 1:
        return jax.device_get(tree)
    from jax.experimental import multihost_utils

    return multihost_utils.process_allgather(tree, tiled=True)


def device_mesh(devices=None) -> jax.sharding.Mesh:
    """A 1-D mesh named ``'dev'`` over ``devices`` (default: all devices)."""
    devices = jax.devices() if devices is None else devices
    return jax.sharding.Mesh(np.asarray(devices), (DEVICE_AXIS,))


def lapack_mesh(devices=None) -> jax.sharding.Mesh:
    """The mesh for a trial function with batched LAPACK calls (SVD, QR) that cannot
    avoid them: all devices, except one device where a process holds several XLA:CPU
    devices (batched LAPACK kernels under ``shard_map`` deadlock there with jax 0.10.2;
    ``scripts/repro_xla_cpu_deadlock.py``). Same numbers either way: trials do not
    depend on the device count."""
    mesh = device_mesh(devices)
    if mesh.devices.flat[0].platform == "cpu" and len(mesh.local_devices) > 1:
        return device_mesh(list(mesh.devices.flat)[:1])
    return mesh
