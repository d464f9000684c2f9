"""The Monte-Carlo engine: trial keys, chunked and sharded evaluation, progress, resume.

A *trial* is a pure function ``unit_fn(key, cell) -> pytree of arrays`` of one PRNG key
and one grid cell (a dict of scalars such as ``n``, ``d0``, ``d1``). Trial ``t`` of a
cell gets the key ``hash(base_key; cell_seed, t)`` (``trial_key``), where ``cell_seed`` is
derived from the cell's own values (``cell_seed``), so a trial's randomness depends on
neither the chunk size, nor the device count, nor which other cells share the sweep.

``run_sweep`` flattens (cell, trial) pairs into *units*, cuts them into blocks of
``chunk × device_count`` and runs every block through **one** compiled program: the
block is split over all devices with ``jax.shard_map`` on a 1-D mesh and each device
vmaps over its ``chunk`` units, so memory is bounded by ``chunk``. In a multi-process
run (``init_distributed``) the mesh spans every process's devices: each computes its
devices' share and the block's results are all-gathered, so every process holds the
numbers of a one-process run; process 0 alone writes checkpoints. The last block
is padded with a repeat of the first unit and the padding is discarded, so shapes never
change and nothing recompiles. Cells of different sizes share the program by padding
(the experiment draws at the sweep's largest sizes and masks; see ``jaxnet.nets``).

After each block an optional host-side ``refine_fn`` may re-decide some units (such as
the rank trials a Gram certificate leaves ambiguous). Finished units are saved
atomically to a checkpoint at most every ``checkpoint_every`` seconds; a rerun with the
same config resumes from it and ends with the same numbers as an uninterrupted run.
"""

from __future__ import annotations

import os
import sys
import time
import zlib
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec

from jaxnet import prng
from jaxnet.io import Checkpoint

_DEVICE_AXIS = "dev"


def cell_seed(*values) -> int:
    """A 31-bit seed from a cell's defining values (stable across runs and grids)."""
    text = ",".join(repr(v) for v in values)
    return zlib.crc32(text.encode()) & 0x7FFFFFFF


def trial_key(base_key, seed, trial):
    """The key of trial ``trial`` of the cell with seed ``seed`` (one Threefry hash)."""
    return prng.derive_key(base_key, seed, trial)


def init_distributed(coordinator: str | None = None, num_processes: int | None = None,
                     process_id: int | None = None) -> None:
    """Join a multi-process run (JAX's distributed runtime), before any computation.

    Every process runs the same command; each owns its local devices' share of every
    block, and results are all-gathered, so each process ends with the same numbers
    as a one-process run of the same seed. On CPU the collectives are Gloo's. With no
    arguments JAX detects the cluster (SLURM, Open MPI, TPU pods, ...).
    """
    if jax.config.jax_platforms in (None, "", "cpu") or "cpu" in str(
            jax.config.jax_platforms):
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(coordinator_address=coordinator,
                               num_processes=num_processes, process_id=process_id)


def is_main_process() -> bool:
    """Process 0 writes files and shows progress; the others only compute."""
    return jax.process_index() == 0


def global_array(x, mesh, spec: PartitionSpec | None = None) -> jax.Array:
    """``x`` (the same NumPy value on every process) as an array on ``mesh``
    (replicated unless ``spec`` says otherwise)."""
    x = np.asarray(x)
    spec = PartitionSpec() if spec is None else spec
    return jax.make_array_from_callback(x.shape, NamedSharding(mesh, spec),
                                        lambda idx: x[idx])


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
    return jax.sharding.Mesh(np.asarray(devices), (_DEVICE_AXIS,))


def run_trials(one_trial: Callable, key, n_trials: int, *, chunk: int, mesh=None):
    """Evaluate ``one_trial(trial_key(key, 0, i))`` for ``i < n_trials``; return NumPy.

    The single-cell case of ``run_sweep`` (same keys, chunking and sharding).

    Args:
      one_trial: pure function of one key returning a dict of scalars.
      key: base PRNG key.
      n_trials: number of trials.
      chunk: trials evaluated at once per device (bounds memory).
      mesh: 1-D device mesh (default: all devices).

    Returns:
      dict of ``(n_trials,)`` NumPy arrays.
    """
    out = run_sweep(
        lambda k, cell: one_trial(k), {"_": np.zeros(1)}, np.zeros(1, np.uint32),
        n_trials, base_key=key, chunk=chunk, progress=False, mesh=mesh,
    )
    return {k: v[0] for k, v in out.items()}


def _check_positive(**kwargs):
    for name, value in kwargs.items():
        if not isinstance(value, int | np.integer) or value <= 0:
            raise ValueError(f"{name} must be a positive integer; got {value!r}")


def make_block_fn(unit_fn: Callable, *, mesh) -> Callable:
    """Compile-once evaluator of a block of units, sharded over ``mesh``.

    The returned function takes ``(key_data, cells, seeds, cell_idx, trial_idx)`` with
    ``key_data`` the base key's ``jax.random.key_data``, ``cell_idx, trial_idx:
    (n_dev, chunk)`` int32 and ``cells`` a dict of ``(C, ...)`` arrays, and returns the
    outputs with the same leading ``(n_dev, chunk)`` axes.
    Each device vmaps ``unit_fn`` over its ``chunk`` units. (The chunk loop runs on the
    host: ``lax.map`` around a LAPACK call deadlocks XLA:CPU with several devices,
    seen with jax 0.10.2.)
    """

    def per_device(key_data, cells, seeds, cell_idx, trial_idx):
        base_key = jax.random.wrap_key_data(key_data)

        def one(c, t):
            key = trial_key(base_key, seeds[c], t)
            return unit_fn(key, {k: v[c] for k, v in cells.items()})

        out = jax.vmap(one)(cell_idx[0], trial_idx[0])
        return jax.tree.map(lambda a: a[None], out)

    rep, shard = PartitionSpec(), PartitionSpec(_DEVICE_AXIS)
    return jax.jit(
        jax.shard_map(
            per_device,
            mesh=mesh,
            in_specs=(rep, rep, rep, shard, shard),
            out_specs=shard,
        )
    )


def compile_block_fn(unit_fn: Callable, cells, seeds, *, base_key, chunk: int, mesh=None):
    """``make_block_fn`` compiled ahead of time for these cells and ``chunk``.

    ``run_sweep(..., block_fn=...)`` then starts without compiling.
    """
    mesh = device_mesh() if mesh is None else mesh
    idx = jax.ShapeDtypeStruct((mesh.size, chunk), jnp.int32,
                               sharding=NamedSharding(mesh, PartitionSpec(_DEVICE_AXIS)))
    key_data, cells_dev, seeds_dev = _replicated_inputs(base_key, cells, seeds, mesh)
    return make_block_fn(unit_fn, mesh=mesh).lower(
        key_data, cells_dev, seeds_dev, idx, idx).compile()


def _replicated_inputs(base_key, cells, seeds, mesh):
    """The block function's replicated inputs, as global arrays on ``mesh``."""
    key_data = global_array(jax.random.key_data(base_key), mesh)
    cells_dev = {k: global_array(v, mesh) for k, v in cells.items()}
    seeds_dev = global_array(np.asarray(seeds, dtype=np.uint32), mesh)
    return key_data, cells_dev, seeds_dev


def run_sweep(
    unit_fn: Callable,
    cells: dict[str, np.ndarray],
    seeds: np.ndarray,
    n_trials: int,
    *,
    base_key,
    chunk: int,
    refine_fn: Callable | None = None,
    checkpoint: Checkpoint | None = None,
    checkpoint_every: float = 10.0,
    progress: bool = True,
    mesh=None,
    desc: str = "trials",
    block_fn: Callable | None = None,
) -> dict[str, np.ndarray]:
    """Run ``n_trials`` trials of every cell; return per-unit outputs ``(C, n_trials)``.

    Args:
      unit_fn: ``unit_fn(key, cell) -> dict of arrays``; jittable.
      cells: dict of ``(C, ...)`` arrays, one entry per cell parameter.
      seeds: ``(C,)`` cell seeds (``cell_seed``).
      n_trials: trials per cell.
      base_key: the sweep's PRNG key (from ``--seed``).
      chunk: units evaluated at once per device (bounds memory); one compiled call
        evaluates ``chunk × device_count`` units.
      refine_fn: optional host function ``(cell_idx, trial_idx, out) -> out`` applied to
        each block's valid units (NumPy dicts).
      checkpoint: where to save finished units and resume from.
      checkpoint_every: seconds between checkpoint writes.
      progress: show a tqdm bar on stderr.
      mesh: 1-D device mesh (default: all devices).
      desc: progress-bar label.
      block_fn: the block evaluator precompiled by ``compile_block_fn`` for the same
        ``unit_fn``, cells, ``chunk`` and mesh (default: compiled here, on first use).

    Returns:
      dict of NumPy arrays of shape ``(C, n_trials, *unit output shape)``.
    """
    from tqdm.auto import tqdm

    mesh = device_mesh() if mesh is None else mesh
    n_dev = mesh.size
    _check_positive(n_trials=n_trials, chunk=chunk)
    block = chunk * n_dev
    n_cells = len(seeds)
    if n_cells == 0:
        raise ValueError("cells must hold at least one cell")
    n_units = n_cells * n_trials
    key_data, cells_dev, seeds_dev = _replicated_inputs(base_key, cells, seeds, mesh)
    if block_fn is None:
        block_fn = make_block_fn(unit_fn, mesh=mesh)
    shard = PartitionSpec(_DEVICE_AXIS)
    main = is_main_process()

    state = checkpoint.load() if checkpoint is not None else None
    if checkpoint is not None and checkpoint.note:
        print(checkpoint.note, file=sys.stderr)
    if state is not None and state["done"].shape != (n_units,):
        state = None
    done = np.zeros(n_units, bool) if state is None else state.pop("done")
    results: dict[str, np.ndarray] = state or {}

    todo = np.flatnonzero(~done)
    bar = tqdm(
        total=n_units, initial=n_units - len(todo), disable=not (progress and main),
        desc=desc, file=sys.stderr, dynamic_ncols=True,
    )
    last_save = time.monotonic()

    def launch(units):
        padded = np.concatenate([units, np.full(block - len(units), units[0])])
        cell_idx = (padded // n_trials).astype(np.int32).reshape(n_dev, -1)
        trial_idx = (padded % n_trials).astype(np.int32).reshape(n_dev, -1)
        return block_fn(key_data, cells_dev, seeds_dev, global_array(cell_idx, mesh, shard),
                        global_array(trial_idx, mesh, shard))

    # One block at a time: running a second XLA:CPU computation (such as refine_fn's)
    # while a block is in flight deadlocks jax 0.10.2's CPU runtime.
    for units in (todo[i : i + block] for i in range(0, len(todo), block)):
        out = gather(launch(units))
        out = {k: np.asarray(v).reshape((block,) + np.shape(v)[2:])[: len(units)]
               for k, v in out.items()}
        if refine_fn is not None:
            out = refine_fn(units // n_trials, units % n_trials, out)
        for k, v in out.items():
            if k not in results:
                results[k] = np.zeros((n_units,) + v.shape[1:], v.dtype)
            results[k][units] = v
        done[units] = True
        bar.update(len(units))
        if main and checkpoint is not None and (
            time.monotonic() - last_save > checkpoint_every or done.all()
        ):
            checkpoint.save({**results, "done": done})
            last_save = time.monotonic()
    bar.close()
    return {k: v.reshape((n_cells, n_trials) + v.shape[1:]) for k, v in results.items()}


def host_map(fn: Callable, tasks: list, *, workers: int = 0, progress: bool = True,
             desc: str = "tasks", done: int = 0, total: int | None = None):
    """Yield ``fn(task)`` for host-side work (LPs, conic programs), in any order.

    With ``workers > 1`` the tasks run in a pool of *spawned* processes (a fork would
    copy JAX's threads); ``fn`` must be importable (a module-level function) and pure
    in its task, so results do not depend on the worker count. A tqdm bar counts from
    ``done`` to ``total``. Callers store each result as it arrives and checkpoint.
    """
    import multiprocessing

    from tqdm.auto import tqdm

    workers = workers or os.cpu_count() or 1
    bar = tqdm(total=total if total is not None else done + len(tasks), initial=done,
               disable=not progress, desc=desc, file=sys.stderr, dynamic_ncols=True)
    pool = (multiprocessing.get_context("spawn").Pool(workers)
            if workers > 1 and len(tasks) > 1 else None)
    try:
        results = pool.imap_unordered(fn, tasks, chunksize=4) if pool else map(fn, tasks)
        for res in results:
            bar.update(1)
            yield res
    finally:
        if pool is not None:
            pool.terminate()
        bar.close()


def host_fill(results, state: dict, store: Callable, checkpoint: Checkpoint | None,
              every: float = 10.0) -> dict:
    """Consume ``host_map`` results into ``state`` (a dict of arrays with a ``'done'``
    mask): ``store(state, result)`` writes one result and returns its index into
    ``done``. The state is checkpointed every ``every`` seconds, and on the way out if
    unfinished (an interruption loses only the results in flight)."""
    last = time.monotonic()
    try:
        for res in results:
            state["done"][store(state, res)] = True
            if checkpoint is not None and time.monotonic() - last > every:
                checkpoint.save(state)
                last = time.monotonic()
    finally:
        if hasattr(results, "close"):
            results.close()
        if checkpoint is not None and not state["done"].all():
            checkpoint.save(state)
    return state
