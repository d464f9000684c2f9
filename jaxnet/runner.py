"""The one runner: trial keys, chunking, sharding, processes, checkpoints, results files.

Every experiment (``jaxnet.experiments``) runs through this module, and nothing else in
jaxnet knows about keys per trial, blocks, devices, worker processes, checkpoints,
progress bars, stalls or files.

**Keys.** Trial ``t`` of a cell gets the key ``hash(base_key; cell_seed, t)``
(``trial_key``), ``cell_seed`` a hash of the cell's own values (``cell_seed``), so a
trial's randomness depends on neither the chunk size, nor the device or process count,
nor which other cells share the sweep. JAX keys are the only random-number system:
host-side trials get a NumPy generator seeded from their key's data (``host_rng``).

**Device side** (``run_device``): a trial is a pure function ``trial_fn(key, cell) ->
pytree``. (cell, trial) pairs are flattened into *units*, cut into blocks of
``chunk × device_count`` and every block runs through **one** compiled program: split
over all devices with ``jax.shard_map`` on a 1-D mesh, each device vmapping over its
``chunk`` units, so memory is bounded by ``chunk``. In a multi-process run
(``init_distributed``) the mesh spans every process's devices, each computes its
share, the block's results are all-gathered, and process 0 alone writes. The last block
is padded with a repeat of the first unit (discarded), so nothing recompiles. An
optional host-side ``refine_fn`` may re-decide some units after each block.

**Host side** (``run_host``): a trial is a module-level function ``trial_fn(rng, cell,
t, **static) -> dict of scalars`` (LPs, conic programs), run on a pool of spawned worker
processes; results do not depend on the worker count or order.

**Checkpoints and stalls.** Finished units are saved atomically at most every
``checkpoint_every`` seconds to a checkpoint tied to the config's fingerprint; a rerun
resumes from it and ends with the numbers of an uninterrupted run. A ``Watchdog``
aborts a run whose blocks stop finishing for ``stall_timeout`` seconds, saving the
checkpoint first and saying so (XLA:CPU in jax 0.10.2 can wedge a program, at 0% CPU,
while the host waits in ``device_get``; README "Known limitations"), so a rerun
resumes.

**Results** (``run``): the experiment's ``compute(config, ctx)`` returns its results
and arrays; the runner adds the shared fields (``experiment``, ``document``,
``config``, ``metadata``: versions, backend, devices, processes, x64, wall time) and
writes ``results.json``, the arrays file and the figures atomically into ``out``.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import threading
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec

from jaxnet import prng
from jaxnet import io
from jaxnet.io import Checkpoint

_DEVICE_AXIS = "dev"


def cell_seed(*values) -> int:
    """A 31-bit seed from a cell's defining values (stable across runs and grids)."""
    text = ",".join(repr(v) for v in values)
    return zlib.crc32(text.encode()) & 0x7FFFFFFF


def trial_key(base_key, seed, trial):
    """The key of trial ``trial`` of the cell with seed ``seed`` (one Threefry hash)."""
    return prng.derive_key(base_key, seed, trial)


def describe(obj, _depth: int = 0):
    """A JSON-able description of ``obj`` that changes whenever what it computes can.

    Part identities (``Context.device``, ``Context.host``) hash it: a function is named
    by its module and qualified name *and* the values its closure captured (so the
    static arguments of a trial-function factory count), partials by their function and
    arguments, dataclasses and named tuples by their fields, arrays by shape, dtype and
    a hash of their bytes. Objects with none of these shapes are named by their type
    and ``repr`` (memory addresses removed).
    """
    import functools
    import hashlib
    import re
    import types

    if _depth > 8:
        return "..."
    d = lambda o: describe(o, _depth + 1)  # noqa: E731
    if obj is None or isinstance(obj, bool | int | float | str):
        return obj
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, jax.sharding.Mesh):
        return "mesh"  # where trials run never changes what they compute
    if isinstance(obj, jax.Array) and jax.dtypes.issubdtype(obj.dtype,
                                                            jax.dtypes.prng_key):
        obj = jax.random.key_data(obj)
    if isinstance(obj, np.ndarray | jax.Array):
        a = np.ascontiguousarray(np.asarray(obj))
        return {"array": list(a.shape), "dtype": str(a.dtype),
                "sha256": hashlib.sha256(a.tobytes()).hexdigest()[:16]}
    if isinstance(obj, dict):
        return {str(k): d(v) for k, v in sorted(obj.items(), key=lambda kv: str(kv[0]))}
    if isinstance(obj, frozenset | set):
        return sorted((d(v) for v in obj), key=repr)
    if hasattr(obj, "_fields") and isinstance(obj, tuple):  # NamedTuple
        return {"type": type(obj).__qualname__,
                **{f: d(getattr(obj, f)) for f in obj._fields}}
    if isinstance(obj, list | tuple | range):
        return [d(v) for v in obj]
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        # Fields marked ``affects_results=False`` (a chunk size) are left out.
        return {"type": type(obj).__qualname__,
                **{f.name: d(getattr(obj, f.name)) for f in dataclasses.fields(obj)
                   if f.metadata.get("affects_results", True)}}
    if isinstance(obj, functools.partial):
        return {"partial": d(obj.func), "args": d(obj.args), "kwargs": d(obj.keywords)}
    if isinstance(obj, types.ModuleType):
        return {"module": obj.__name__}
    wrapped = getattr(obj, "__wrapped__", None)  # jax.jit, functools.wraps
    if wrapped is not None and callable(obj):
        return d(wrapped)
    if isinstance(obj, types.FunctionType | types.MethodType):
        fn = obj.__func__ if isinstance(obj, types.MethodType) else obj
        closure = [c.cell_contents for c in (fn.__closure__ or ())
                   if _cell_filled(c)]
        return {"fn": f"{fn.__module__}.{fn.__qualname__}",
                "closure": d(closure), "defaults": d(fn.__defaults__ or ()),
                "kwdefaults": d(fn.__kwdefaults__ or {})}
    if isinstance(obj, type):
        return {"class": f"{obj.__module__}.{obj.__qualname__}"}
    if callable(obj) and hasattr(obj, "__qualname__"):
        return {"callable": f"{getattr(obj, '__module__', '')}.{obj.__qualname__}"}
    return {"type": type(obj).__qualname__,
            "repr": re.sub(r" at 0x[0-9a-f]+", "", repr(obj))[:500]}


def _cell_filled(cell) -> bool:
    try:
        cell.cell_contents  # noqa: B018
    except ValueError:  # an empty cell (a name bound after the closure)
        return False
    return True


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


def _check_positive(**kwargs):
    for name, value in kwargs.items():
        if not isinstance(value, int | np.integer) or value <= 0:
            raise ValueError(f"{name} must be a positive integer; got {value!r}")


def make_block_fn(unit_fn: Callable, *, mesh, sequential: bool = False) -> Callable:
    """Compile-once evaluator of a block of units, sharded over ``mesh``.

    The returned function takes ``(key_data, cells, seeds, cell_idx, trial_idx)`` with
    ``key_data`` the base key's ``jax.random.key_data``, ``cell_idx, trial_idx:
    (n_dev, chunk)`` int32 and ``cells`` a dict of ``(C, ...)`` arrays, and returns the
    outputs with the same leading ``(n_dev, chunk)`` axes.
    Each device vmaps ``unit_fn`` over its ``chunk`` units, or with ``sequential``
    runs them one after another (``lax.map``): for a ``unit_fn`` whose cost varies a lot
    from trial to trial (a ``while_loop`` to a random stopping time), where a vmapped
    chunk would run every lane as long as its slowest. (``lax.map`` around a LAPACK call
    deadlocks XLA:CPU with several devices, seen with jax 0.10.2: not for those.)
    """

    def per_device(key_data, cells, seeds, cell_idx, trial_idx):
        base_key = jax.random.wrap_key_data(key_data)

        def one(c, t):
            key = trial_key(base_key, seeds[c], t)
            return unit_fn(key, {k: v[c] for k, v in cells.items()})

        if sequential:
            out = jax.lax.map(lambda ct: one(*ct), (cell_idx[0], trial_idx[0]))
        else:
            out = jax.vmap(one)(cell_idx[0], trial_idx[0])
        return jax.tree.map(lambda a: a[None], out)

    rep, shard = PartitionSpec(), PartitionSpec(_DEVICE_AXIS)
    return jax.jit(
        jax.shard_map(
            per_device,
            mesh=mesh,
            in_specs=(rep, rep, rep, shard, shard),
            out_specs=shard,
            # Trials are independent per device (no collectives), so the
            # varying-axis type check only gets in the way of library code whose
            # ``lax.cond`` branches mix replicated and per-device values (optax's
            # L-BFGS ``value_and_grad_from_state``).
            check_vma=False,
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


def merge_programs(groups: list, cost: Callable, *, compile_seconds: float,
                   max_programs: int | None = None,
                   compatible: Callable | None = None) -> list[np.ndarray]:
    """Group work into few compiled programs, greedily, by a cost model.

    Starting from ``groups`` (index arrays, one program each), merge the compatible
    pair whose merge adds the least estimated running time (``cost(indices) ->
    seconds`` of one program running those items padded to their largest), while
    there are more than ``max_programs`` or a merge adds less than ``compile_seconds``
    (what one program fewer saves). ``compatible(a, b)``: whether two groups may share
    a program (default: always). The plan depends on its inputs only, so callers whose
    trials do not depend on their padding get the same numbers from any plan.
    """
    groups = [np.asarray(g) for g in groups]
    costs = [cost(g) for g in groups]
    limit = len(groups) if max_programs is None else max_programs
    while len(groups) > 1:
        best = None
        for i in range(len(groups)):
            for j in range(i + 1, len(groups)):
                if compatible is not None and not compatible(groups[i], groups[j]):
                    continue
                merged = np.concatenate([groups[i], groups[j]])
                extra = cost(merged) - costs[i] - costs[j]
                if best is None or extra < best[0]:
                    best = (extra, i, j, merged)
        if best is None or (len(groups) <= limit and best[0] >= compile_seconds):
            break
        _, i, j, merged = best
        groups = [g for k, g in enumerate(groups) if k not in (i, j)] + [np.sort(merged)]
        costs = [c for k, c in enumerate(costs) if k not in (i, j)] + [cost(merged)]
    return groups


def _replicated_inputs(base_key, cells, seeds, mesh):
    """The block function's replicated inputs, as global arrays on ``mesh``."""
    key_data = global_array(jax.random.key_data(base_key), mesh)
    cells_dev = {k: global_array(v, mesh) for k, v in cells.items()}
    seeds_dev = global_array(np.asarray(seeds, dtype=np.uint32), mesh)
    return key_data, cells_dev, seeds_dev


def _next_pow2(k: int) -> int:
    return 1 << max(int(k) - 1, 0).bit_length()


def run_device(
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
    stall_timeout: float = 0.0,
    sequential: bool = False,
    units: np.ndarray | None = None,
    info: dict | None = None,
) -> dict[str, np.ndarray]:
    """Run ``n_trials`` trials of every cell; return per-unit outputs ``(C, n_trials)``.

    Args:
      unit_fn: ``unit_fn(key, cell) -> dict of arrays``; jittable.
      cells: dict of ``(C, ...)`` arrays, one entry per cell parameter.
      seeds: ``(C,)`` cell seeds (``cell_seed``).
      n_trials: trials per cell.
      base_key: the sweep's PRNG key (from ``--seed``).
      chunk: units evaluated at once per device, at most (bounds memory); one compiled
        call evaluates ``chunk × device_count`` units (fewer, rounded up to a power of
        two, when the whole run is smaller and ``block_fn`` is not given).
      refine_fn: optional host function ``(cell_idx, trial_idx, out) -> out`` applied to
        each block's valid units (NumPy dicts).
      checkpoint: where to save finished units and resume from.
      checkpoint_every: seconds between checkpoint writes.
      progress: show a tqdm bar on stderr.
      mesh: 1-D device mesh (default: all devices).
      desc: progress-bar label.
      block_fn: the block evaluator precompiled by ``compile_block_fn`` for the same
        ``unit_fn``, cells, ``chunk`` and mesh (default: compiled here, on first use).
      stall_timeout: abort (``Watchdog``) when no block finishes for this many seconds
        (0: never); the first block's allowance includes its compilation.
      sequential: evaluate a device's chunk one unit after another (``make_block_fn``).
      units: evaluate only these units (flat indices ``cell * n_trials + t``), in
        blocks of exactly ``chunk`` per device (no shrinking, no checkpoint), and
        return their outputs ``(len(units), ...)``: how the audit recomputes stored
        trials in the very program shape they were computed in.
      info: if given, filled with ``{"chunk": units per device per block}``.

    Returns:
      dict of NumPy arrays of shape ``(C, n_trials, *unit output shape)`` (or
      ``(len(units), ...)`` with ``units``).
    """
    from tqdm.auto import tqdm

    mesh = device_mesh() if mesh is None else mesh
    n_dev = mesh.size
    _check_positive(n_trials=n_trials, chunk=chunk)
    n_cells = len(seeds)
    if n_cells == 0:
        raise ValueError("cells must hold at least one cell")
    n_units = n_cells * n_trials
    key_data, cells_dev, seeds_dev = _replicated_inputs(base_key, cells, seeds, mesh)
    precompiled = block_fn is not None
    if not precompiled:
        block_fn = make_block_fn(unit_fn, mesh=mesh, sequential=sequential)
    shard = PartitionSpec(_DEVICE_AXIS)
    main = is_main_process()

    subset = units is not None
    if subset:
        checkpoint = None
        units = np.asarray(units, np.int64)
        if units.size == 0 or units.min() < 0 or units.max() >= n_units:
            raise ValueError(f"units must be non-empty indices in [0, {n_units}); "
                             f"got {units!r}")
    state = checkpoint.load() if checkpoint is not None else None
    if checkpoint is not None and checkpoint.note:
        print(checkpoint.note, file=sys.stderr)
    if state is not None and state["done"].shape != (n_units,):
        state = None
    done = np.zeros(n_units, bool) if state is None else state.pop("done")
    results: dict[str, np.ndarray] = state or {}

    todo = units if subset else np.flatnonzero(~done)
    if not (precompiled or subset):
        # A run smaller than one block is not padded up to ``chunk``: the block shrinks
        # to the next power of two that holds it (few distinct shapes, at most 2x the
        # units; the numbers do not depend on the block size).
        chunk = min(chunk, _next_pow2(-(-max(len(todo), 1) // n_dev)))
    block = chunk * n_dev
    if info is not None:
        info["chunk"] = int(chunk)
    if subset:
        n_units = len(units)
        done = np.zeros(n_units, bool)
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

    def save():
        if main and checkpoint is not None:
            checkpoint.save({**results, "done": done})

    watchdog = Watchdog(stall_timeout, desc, on_stall=save)
    # One block at a time: running a second XLA:CPU computation (such as refine_fn's)
    # while a block is in flight deadlocks jax 0.10.2's CPU runtime.
    for start in range(0, len(todo), block):
        batch = todo[start : start + block]
        out = gather(launch(batch))
        out = {k: np.asarray(v).reshape((block,) + np.shape(v)[2:])[: len(batch)]
               for k, v in out.items()}
        if refine_fn is not None:
            out = refine_fn(batch // n_trials, batch % n_trials, out)
        where = np.arange(start, start + len(batch)) if subset else batch
        for k, v in out.items():
            if k not in results:
                results[k] = np.zeros((n_units,) + v.shape[1:], v.dtype)
            results[k][where] = v
        done[where] = True
        bar.update(len(batch))
        watchdog.beat()
        if time.monotonic() - last_save > checkpoint_every or done.all():
            save()
            last_save = time.monotonic()
    watchdog.stop()
    bar.close()
    if subset:
        return results
    return {k: v.reshape((n_cells, n_trials) + v.shape[1:]) for k, v in results.items()}




class Watchdog:
    """Abort a run that stops making progress.

    A daemon thread checks that ``beat()`` was called within the last ``timeout``
    seconds. If not, it calls ``on_stall`` (the runner saves its checkpoint there: the
    results held by the waiting main thread are consistent between blocks), prints one
    line naming the stalled step and how to resume, and ends the process with exit
    status 3 through ``exit_fn`` (``os._exit``: the main thread is blocked inside a
    native call and cannot be interrupted). ``timeout <= 0`` disables it.
    """

    EXIT_STATUS = 3

    def __init__(self, timeout: float, what: str, *, on_stall: Callable | None = None,
                 exit_fn: Callable[[int], Any] = os._exit, poll: float | None = None):
        self.timeout = float(timeout)
        self.what = what
        self.on_stall = on_stall
        self.exit_fn = exit_fn
        self.fired = False
        self._last = time.monotonic()
        self._stop = threading.Event()
        self._thread = None
        if self.timeout > 0:
            self._poll = poll if poll is not None else min(5.0, self.timeout / 4)
            self._thread = threading.Thread(target=self._watch, daemon=True,
                                             name="jaxnet-watchdog")
            self._thread.start()

    def beat(self) -> None:
        self._last = time.monotonic()

    def stop(self) -> None:
        self._stop.set()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    def _watch(self) -> None:
        while not self._stop.wait(self._poll):
            idle = time.monotonic() - self._last
            if idle <= self.timeout:
                continue
            self.fired = True
            saved = ""
            if self.on_stall is not None:
                try:
                    self.on_stall()
                    saved = "; finished work is checkpointed"
                except Exception as err:  # report, still abort
                    saved = f"; saving the checkpoint failed ({err})"
            print(f"jaxnet: error: {self.what} made no progress for {idle:.1f} s "
                  f"(--stall-timeout {self.timeout:g}){saved}; aborting: rerun the same "
                  "command to resume", file=sys.stderr, flush=True)
            self.exit_fn(self.EXIT_STATUS)
            return


# ---------------------------------------------------------------------------
# Host side: solver work on a process pool, with the same keys as the device side.


def trial_key_data(base_key, seeds, n_trials: int) -> np.ndarray:
    """``(C, n_trials, 2)`` uint32: the key data of every trial of every cell (one
    vectorized call; ``seeds`` are the cells' ``cell_seed``)."""
    seeds = jnp.asarray(np.asarray(seeds, np.uint32))
    trials = jnp.arange(n_trials, dtype=jnp.uint32)
    keys = jax.vmap(lambda s: jax.vmap(lambda t: trial_key(base_key, s, t))(trials))(seeds)
    return np.asarray(jax.random.key_data(keys))


def host_rng(key_data) -> np.random.Generator:
    """The NumPy generator of a host-side trial, seeded from its JAX key's data."""
    return np.random.default_rng(np.asarray(key_data, np.uint32).ravel().tolist())


def _host_call(task):
    """Worker entry point: ``(fn, c, t, cell, key_data, static) -> (c, t, outputs)``."""
    fn, c, t, cell, key_data, static = task
    return c, t, fn(host_rng(key_data), cell, t, **static)


class HostPoolError(RuntimeError):
    """The host pool's worker processes died (a crash, or a script without a
    ``__main__`` guard: spawned workers re-run it while importing it)."""


def _pool_results(tasks, workers: int):
    """``(c, t, out)`` of every task, as they finish, from ``workers`` spawned
    processes (``concurrent.futures``: a worker that dies breaks the pool, which raises
    ``HostPoolError`` at once instead of being replaced for ever)."""
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    ctx = multiprocessing.get_context("spawn")
    pending, queue = set(), iter(tasks)
    pool = ProcessPoolExecutor(workers, mp_context=ctx)
    try:
        def fill():
            for task in queue:
                pending.add(pool.submit(_host_call, task))
                if len(pending) >= 4 * workers:
                    return

        fill()
        while pending:
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            for fut in finished:
                pending.discard(fut)
                yield fut.result()
            fill()
    except BrokenProcessPool:
        raise HostPoolError(
            "the host pool's worker processes died before finishing; if this call is "
            "in a script, put it under `if __name__ == \"__main__\":` (spawned workers "
            "import the script), or pass workers=1 to run in this process") from None
    finally:
        # An interrupted run must not wait for the queued trials: stop the workers.
        for proc in list(getattr(pool, "_processes", {}).values()):
            proc.terminate()
        pool.shutdown(wait=False, cancel_futures=True)


def run_host(
    trial_fn: Callable,
    cells: list,
    seeds,
    n_trials: int,
    *,
    base_key,
    static: dict | None = None,
    workers: int = 0,
    checkpoint: Checkpoint | None = None,
    checkpoint_every: float = 10.0,
    progress: bool = True,
    desc: str = "instances",
    cost: Callable | None = None,
    stall_timeout: float = 0.0,
    units: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Run ``n_trials`` host-side trials of every cell on a pool of worker processes.

    Args:
      trial_fn: a module-level (importable) function ``trial_fn(rng, cell, t,
        **static) -> dict of scalars``; ``rng`` is the trial's generator (``host_rng``
        of its key), so results depend on neither the worker count nor the order;
        ``t`` is the trial's index in its cell, for bookkeeping only (such as a
        reference subset), never as a source of randomness.
      cells: the cells (any picklable values, passed to ``trial_fn`` as they are).
      seeds: ``(C,)`` cell seeds (``cell_seed``).
      n_trials: trials per cell.
      base_key: the run's PRNG key.
      static: keyword arguments shared by every trial.
      workers: worker processes (0: one per CPU; 1: in this process). Workers are
        *spawned* (a fork would copy JAX's threads); if they die (for example in a
        script without a ``__main__`` guard) ``HostPoolError`` says so at once.
      checkpoint, checkpoint_every: where and how often to save finished trials.
      progress, desc: the progress bar.
      cost: optional ``cost(cell) -> float``; expensive cells are started first so
        the workers finish together.
      stall_timeout: abort (``Watchdog``) when no trial finishes for this many seconds
        (0: never).
      units: run only these trials (flat ``cell * n_trials + t``), no checkpoint, and
        return their outputs ``(len(units), ...)`` (the audit).

    Returns:
      dict of ``(C, n_trials)`` NumPy arrays, one per output field, and ``done`` (or
      ``(len(units),)`` arrays with ``units``).
    """
    from tqdm.auto import tqdm

    _check_positive(n_trials=n_trials)
    if not len(cells):
        raise ValueError("cells must hold at least one cell")
    keys = trial_key_data(base_key, seeds, n_trials)
    static = static or {}
    if units is not None:
        units = np.asarray(units, np.int64)
        pairs = [(int(u) // n_trials, int(u) % n_trials) for u in units]
        shape, checkpoint = (len(units),), None
        index = {p: i for i, p in enumerate(pairs)}
    else:
        order = np.argsort([-cost(c) for c in cells], kind="stable") if cost else range(
            len(cells))
        pairs = [(int(c), t) for c in order for t in range(n_trials)]
        shape = (len(cells), n_trials)
        index = None
    state = checkpoint.load() if checkpoint is not None else None
    if checkpoint is not None and checkpoint.note:
        print(checkpoint.note, file=sys.stderr)
    if state is not None and state.get("done", np.zeros(0)).shape != shape:
        state = None
    state = state or {"done": np.zeros(shape, bool)}
    done = state["done"]

    def slot(c, t):
        return (index[(c, t)],) if index is not None else (c, t)

    tasks = [(trial_fn, c, t, cells[c], keys[c, t], static)
             for c, t in pairs if not done[slot(c, t)]]
    workers = workers or os.cpu_count() or 1
    bar = tqdm(total=done.size, initial=int(done.sum()), disable=not progress, desc=desc,
               file=sys.stderr, dynamic_ncols=True)
    last = time.monotonic()

    def save():
        if checkpoint is not None:
            checkpoint.save(state)

    watchdog = Watchdog(stall_timeout, desc, on_stall=save)
    try:
        results = (_pool_results(tasks, workers) if workers > 1 and len(tasks) > 1
                   else map(_host_call, tasks))
        for c, t, out in results:
            for name, value in out.items():
                if name not in state:
                    value = np.asarray(value)
                    state[name] = np.zeros(shape + value.shape, value.dtype)
                state[name][slot(c, t)] = value
            done[slot(c, t)] = True
            bar.update(1)
            watchdog.beat()
            if checkpoint is not None and time.monotonic() - last > checkpoint_every:
                save()
                last = time.monotonic()
    finally:
        watchdog.stop()
        bar.close()
        if not done.all():  # interrupted: keep what finished
            save()
    if checkpoint is not None:
        save()  # the finished part, complete under its identity
    return state


# ---------------------------------------------------------------------------
# The experiment protocol.


@dataclasses.dataclass(frozen=True)
class Spec:
    """What the runner needs to know of an experiment module, besides its functions.

    Attributes:
      name: the experiment's name (``results.json``'s ``experiment``; hashed into cell
        seeds; the default output folder ``runs/NAME``).
      document: what it reproduces (``results.json``'s ``document``).
      arrays: the file the per-trial arrays go to, next to ``results.json``.
      options: the runner ``Options`` its command line exposes.
      x64: whether it needs 64-bit floats (switched on by ``run``).
      audit_rtol: per output field, the relative tolerance within which the audit
        (``jaxnet.audit``) accepts a recomputed float (default ``DEFAULT_RTOL``).
    """

    name: str
    document: str
    arrays: str = "arrays.npz"
    options: tuple[str, ...] = ("out",)
    x64: bool = True
    audit_rtol: dict | None = None


# The options of an experiment whose trials run on the host pool (``Context.host``).
HOST_OPTIONS = ("out", "progress", "checkpoint_every", "workers")


@dataclasses.dataclass(frozen=True)
class Options:
    """How an experiment runs (not what it computes): these never change its numbers.

    Each experiment exposes the ones that apply to it on its command line
    (``Spec.options``) and records them in ``results.json``'s ``config``.
    """

    out: str | None = None
    progress: bool = True
    checkpoint_every: float = 10.0
    stall_timeout: float = 1800.0
    workers: int = 0
    coordinator: str = ""
    num_processes: int = 1
    process_id: int = 0

    def __post_init__(self):
        from jaxnet import checks

        if self.out is not None:  # a pathlib.Path from a notebook: recorded as text
            object.__setattr__(self, "out", os.fspath(self.out))
        checks.real("checkpoint_every", self.checkpoint_every, low=0)
        checks.real("stall_timeout", self.stall_timeout, low=0)
        checks.positive_int("workers", self.workers, minimum=0)
        checks.positive_int("num_processes", self.num_processes)
        if not 0 <= self.process_id < self.num_processes:
            raise ValueError(f"process_id must be in [0, num_processes); got "
                             f"{self.process_id}")
        if self.num_processes > 1 and ":" not in self.coordinator:
            raise ValueError(f"coordinator must be HOST:PORT with num_processes > 1; "
                             f"got {self.coordinator!r}")


PARTS_FILE = "parts.npz"


class Context:
    """What an experiment's ``compute`` gets from the runner: its key, its options and
    the two ways to run trials (``device``, ``host``).

    Every call of ``device`` or ``host`` is a *part* of the run, named by an identity
    the runner derives from everything that defines its trials (``part_id``): the
    experiment, the config's identity, the trial function with the values its closure
    captured and its static arguments, the refine function, the cells, the seeds and
    the trial count. A part's checkpoint (``out/checkpoint-ID.npz``) carries that
    identity, so two parts can never read each other's state; a finished part stays
    complete under it until the run ends (a rerun after a later crash reuses it). The
    finished parts' outputs are kept (``parts``) and written to ``parts.npz`` beside
    ``results.json`` by ``run``: ``jaxnet.audit`` recomputes a sample of them.

    A sub-computation (another experiment's engine run on its own config) runs in a
    ``child`` context: its own name, config and folder.
    """

    def __init__(self, name: str, config, options: Options, out: Path | None, *,
                 audit=None, parts: list | None = None):
        self.name = name
        self.config = config
        self.options = options
        self.out = out
        self.base_key = jax.random.key(getattr(config, "seed", 0))
        from jaxnet import config as config_lib

        self.fingerprint = io.fingerprint({"experiment": name, **(
            config_lib.identity(config) if config is not None else {})})
        self.progress = options.progress and is_main_process()
        self.audit = audit  # a jaxnet.audit.Replay: parts come from the stored run
        self.parts = [] if parts is None else parts  # shared with child contexts
        self._checkpoints: list[Checkpoint] = []
        self._children: list[Context] = []

    @classmethod
    def detached(cls, name: str, config, *, base_key=None, **options) -> Context:
        """A context that writes nothing (library calls outside an experiment run),
        with ``base_key`` instead of the config's seed if given."""
        ctx = cls(name, config, Options(**{"progress": False, "stall_timeout": 0.0,
                                           **options}), None)
        if base_key is not None:
            ctx.base_key = base_key
        return ctx

    def child(self, folder: str, name: str, config) -> Context:
        """The context of a sub-computation: experiment ``name`` with ``config``, its
        checkpoints in ``out/folder``; its parts are stored with this run's."""
        out = None if self.out is None else io.check_writable_dir(self.out / folder)
        sub = Context(name, config, self.options, out, audit=self.audit, parts=self.parts)
        self._children.append(sub)
        return sub

    def part_id(self, kind: str, trial_fn, cells, seeds, n_trials: int, *,
                static=None, refine_fn=None) -> str:
        """The identity of a part (class docstring)."""
        return io.fingerprint({
            "data": self.data_id(kind, cells, seeds, n_trials, static=static),
            "trial_fn": describe(trial_fn), "refine_fn": describe(refine_fn)})

    def data_id(self, kind: str, cells, seeds, n_trials: int, *, static=None) -> str:
        """What a part's trials are drawn for, without the code that computes them
        (experiment, config, cells, seeds, trial count, static arguments): how the
        audit finds a stored part again after its trial function moved or was renamed
        (the recomputed trials then show whether the numbers moved too)."""
        return io.fingerprint({
            "experiment": self.name, "config": self.fingerprint, "kind": kind,
            "static": describe(static), "cells": describe(cells),
            "seeds": describe(np.asarray(seeds, np.uint32)), "n_trials": int(n_trials)})

    def _checkpoint(self, pid: str) -> Checkpoint | None:
        if self.out is None:
            return None
        ckpt = Checkpoint(self.out / f"checkpoint-{pid}.npz", pid)
        self._checkpoints.append(ckpt)
        return ckpt

    def _record(self, pid, kind, trial_fn, desc, n_cells, n_trials, outputs, **extra):
        if any(p["id"] == pid for p in self.parts):
            return
        name = describe(trial_fn)
        self.parts.append({
            "id": pid, "kind": kind, "experiment": self.name, "desc": desc,
            "trial_fn": name.get("fn", str(name)) if isinstance(name, dict) else name,
            "cells": int(n_cells), "trials": int(n_trials), **extra,
            "outputs": {k: v for k, v in outputs.items() if k != "done"}})

    def device(self, trial_fn, cells, seeds, n_trials, *, chunk, desc=None,
               refine_fn=None, **kwargs):
        """``run_device`` with this run's key, checkpoints, progress and watchdog."""
        pid = self.part_id("device", trial_fn, cells, seeds, n_trials,
                           refine_fn=refine_fn)
        desc = desc or self.name
        data = self.data_id("device", cells, seeds, n_trials)
        if self.audit is not None:
            return self.audit.device(self, (pid, data), trial_fn, cells, seeds, n_trials,
                                     refine_fn=refine_fn, desc=desc, chunk=chunk,
                                     **kwargs)
        info = {}
        out = run_device(
            trial_fn, cells, seeds, n_trials, base_key=self.base_key, chunk=chunk,
            refine_fn=refine_fn, checkpoint=self._checkpoint(pid),
            checkpoint_every=self.options.checkpoint_every, progress=self.progress,
            desc=desc, stall_timeout=self.options.stall_timeout, info=info, **kwargs)
        self._record(pid, "device", trial_fn, desc, len(seeds), n_trials, out,
                     data_id=data, chunk=info["chunk"], devices=int((kwargs.get("mesh") or
                                                       device_mesh()).size),
                     sequential=bool(kwargs.get("sequential", False)))
        return out

    def host(self, trial_fn, cells, seeds, n_trials, *, static=None, desc=None,
             **kwargs):
        """``run_host`` with this run's key, workers, checkpoints, progress and
        watchdog."""
        pid = self.part_id("host", trial_fn, cells, seeds, n_trials, static=static)
        desc = desc or self.name
        data = self.data_id("host", cells, seeds, n_trials, static=static)
        if self.audit is not None:
            return self.audit.host(self, (pid, data), trial_fn, cells, seeds, n_trials,
                                   static=static, desc=desc)
        out = run_host(
            trial_fn, cells, seeds, n_trials, base_key=self.base_key, static=static,
            workers=self.options.workers, checkpoint=self._checkpoint(pid),
            checkpoint_every=self.options.checkpoint_every, progress=self.progress,
            desc=desc, stall_timeout=self.options.stall_timeout, **kwargs)
        self._record(pid, "host", trial_fn, desc, len(cells), n_trials, out,
                     data_id=data)
        return out

    def remove_checkpoints(self) -> None:
        for ckpt in self._checkpoints:
            ckpt.remove()
        for sub in self._children:
            sub.remove_checkpoints()
            if sub.out is not None and sub.out.is_dir() and not any(sub.out.iterdir()):
                sub.out.rmdir()


@dataclasses.dataclass
class Result:
    """A finished run: ``results`` (what ``results.json`` holds), ``arrays`` (the
    bulky per-trial arrays), ``out`` (where they were written, or None) and
    ``.plot()``."""

    experiment: Any
    results: dict
    arrays: dict
    out: Path | None = None

    @property
    def cells(self) -> list[dict]:
        return self.results.get("cells", [])

    def column(self, field: str) -> np.ndarray:
        """One field of every cell as an array, e.g. ``result.column('p')``."""
        return np.asarray([c[field] for c in self.cells])

    def plot(self) -> dict:
        """The experiment's figures, ``{file name: matplotlib Figure}``."""
        return self.experiment.plot(self.results, self.arrays)

    def __repr__(self) -> str:
        where = f", out={str(self.out)!r}" if self.out else ""
        return f"Result({self.experiment.SPEC.name}: {self.experiment.report(self.results)}{where})"


def config_dict(experiment, config, options: Options) -> dict:
    """``results.json``'s ``config``: the experiment's fields and its exposed options."""
    return {**dataclasses.asdict(config),
            **{name: getattr(options, name) for name in experiment.SPEC.options}}


def run(experiment, config, options: Options | None = None) -> Result:
    """Run ``experiment`` (a module of ``jaxnet.experiments``) with ``config``.

    Switches on what the experiment needs (``Spec.x64``), joins a multi-process run if the
    options ask for one, calls ``experiment.compute(config, ctx)``, adds the shared
    ``results.json`` fields and, when ``options.out`` is set, writes ``results.json``,
    the arrays file (``Spec.arrays``) and the figures atomically there (process
    0 only) and removes the finished run's checkpoints. Without ``out`` nothing is
    written (notebook use).
    """
    options = options or Options()
    spec = experiment.SPEC
    if spec.x64:
        jax.config.update("jax_enable_x64", True)
    if options.num_processes > 1:
        init_distributed(options.coordinator, options.num_processes, options.process_id)
    out = io.check_writable_dir(options.out) if options.out is not None else None
    ctx = Context(spec.name, config, options, out)
    t0 = time.perf_counter()
    body, arrays = experiment.compute(config, ctx)
    wall = time.perf_counter() - t0
    extra_meta = body.pop("metadata", {})
    config_d = {**config_dict(experiment, config, options), **body.pop("config", {})}
    results = {"experiment": spec.name, "document": spec.document,
               "config": config_d, **body,
               "metadata": {**io.run_metadata(wall), **extra_meta}}
    results["provenance"] = {
        **io.provenance(),
        # every Config field as given (``config`` above may hold descriptions that
        # compute filled in): what the audit rebuilds the Config from
        "config": dataclasses.asdict(config),
        "parts": [{k: v for k, v in p.items() if k != "outputs"} for p in ctx.parts]}
    result = Result(experiment, results, arrays, out)
    if out is not None and is_main_process():
        import matplotlib.pyplot as plt

        if ctx.parts:
            io.write_npz(out / PARTS_FILE, compressed=True, **{
                f"{p['id']}.{k}": v for p in ctx.parts for k, v in p["outputs"].items()})
        if arrays:
            io.write_npz(out / spec.arrays, **arrays)
        io.write_json(out / "results.json", results)
        for name, fig in result.plot().items():
            io.write_figure(out / name, fig)
            plt.close(fig)
        ctx.remove_checkpoints()
    return result
