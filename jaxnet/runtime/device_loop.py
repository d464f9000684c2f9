"""The device loop (``run_device``): every trial (cell c, index t) through one compiled
program, block by block, with checkpoints, an optional host refinement and the
watchdog.

A trial is a pure function ``trial_fn(key, cell) -> pytree``. (cell, trial) pairs are
flattened (``c * n_trials + t``), cut into blocks of ``chunk × device_count`` and every block
runs through **one** compiled program: split over all devices with ``jax.shard_map`` on
a 1-D mesh, each device vmapping over its ``chunk`` trials (or running them one after
another, ``sequential``), so memory is bounded by ``chunk``. In a multi-process run the
mesh spans every process's devices, the block's results are all-gathered, and process 0
alone writes. The last block is padded with a repeat of its first trial (discarded), so
nothing recompiles.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import PartitionSpec

from jaxnet.runtime.blocks import _next_pow2, _replicated_inputs, make_block_fn
from jaxnet.runtime.devices import (
    DEVICE_AXIS,
    device_mesh,
    gather,
    global_array,
    is_main_process,
)
from jaxnet.runtime.io import Checkpoint
from jaxnet.runtime.keys import trial_key
from jaxnet.runtime.watchdog import Watchdog

# Fault tests: "WHEN:FILE" makes the loop touch FILE and wait to be killed, WHEN
# "start" (before its first block) or "checkpoint" (after its first checkpoint save),
# so a test kills the run at a chosen moment instead of racing it.
FAULT_PAUSE_ENV = "JAXNET_FAULT_PAUSE"


def _fault_pause(when: str) -> None:
    spec = os.environ.get(FAULT_PAUSE_ENV, "")
    if spec.partition(":")[0] == when:
        Path(spec.partition(":")[2]).touch()
        while True:
            time.sleep(60)


_keys_of = jax.jit(jax.vmap(trial_key, in_axes=(None, 0, 0)))
_key_of = jax.jit(trial_key)


class TrialKeys:
    """The trial keys of a block's trials, derived on demand: ``keys[i]`` (one trial) or
    ``keys[idx]`` (an index array) is what ``trial_fn`` got for those trials. A refine
    step usually needs few of them, so none is derived before it asks."""

    def __init__(self, base_key, seeds, trials):
        self.base_key = base_key
        self.seeds = np.asarray(seeds, np.uint32)
        self.trials = np.asarray(trials)

    def __len__(self) -> int:
        return len(self.trials)

    def __getitem__(self, idx):
        if np.ndim(idx) == 0:
            return _key_of(self.base_key, self.seeds[idx], self.trials[idx])
        idx = np.asarray(idx)
        return _keys_of(
            self.base_key, jnp.asarray(self.seeds[idx]), jnp.asarray(self.trials[idx])
        )


def _check_positive(**kwargs):
    for name, value in kwargs.items():
        if not isinstance(value, int | np.integer) or value <= 0:
            raise ValueError(f"{name} must be a positive integer; got {value!r}")


def run_device(
    trial_fn: Callable,
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
    subset: np.ndarray | None = None,
    info: dict | None = None,
) -> dict[str, np.ndarray]:
    """Run ``n_trials`` trials of every cell; return per-trial outputs ``(C, n_trials)``.

    Args:
      trial_fn: ``trial_fn(key, cell) -> dict of arrays``; jittable.
      cells: dict of ``(C, ...)`` arrays, one entry per cell parameter.
      seeds: ``(C,)`` cell seeds (``cell_seed``).
      n_trials: trials per cell.
      base_key: the sweep's PRNG key (from ``--seed``).
      chunk: trials evaluated at once per device, at most (bounds memory); one compiled
        call evaluates ``chunk × device_count`` trials (fewer, rounded up to a power of
        two, when the whole run is smaller and ``block_fn`` is not given).
      refine_fn: optional host function ``(keys, cell_idx, trial_idx, out) -> out``
        applied to each block's valid trials: ``keys`` their trial keys (``TrialKeys``:
        ``keys[idx]`` are the very keys ``trial_fn`` got), ``cell_idx``/``trial_idx``
        their indices, ``out`` their outputs (NumPy dicts).
      checkpoint: where to save finished trials and resume from.
      checkpoint_every: seconds between checkpoint writes.
      progress: show a tqdm bar on stderr.
      mesh: 1-D device mesh (default: all devices).
      desc: progress-bar label.
      block_fn: the block evaluator precompiled by ``compile_block_fn`` for the same
        ``trial_fn``, cells, ``chunk`` and mesh (default: compiled here, on first use).
      stall_timeout: abort (``Watchdog``) when no block finishes for this many seconds
        (0: never); the first block's allowance includes its compilation.
      sequential: evaluate a device's chunk one trial after another (``make_block_fn``).
      subset: evaluate only these trials (flat indices ``cell * n_trials + t``), in
        blocks of exactly ``chunk`` per device (no shrinking, no checkpoint), and
        return their outputs ``(len(subset), ...)``: how the audit recomputes stored
        trials in the very program shape they were computed in.
      info: if given, filled with ``{"chunk": trials per device per block}``.

    Returns:
      dict of NumPy arrays of shape ``(C, n_trials, *trial output shape)`` (or
      ``(len(subset), ...)`` with ``subset``).
    """
    from tqdm.auto import tqdm

    mesh = device_mesh() if mesh is None else mesh
    n_dev = mesh.size
    _check_positive(n_trials=n_trials, chunk=chunk)
    n_cells = len(seeds)
    if n_cells == 0:
        raise ValueError("cells must hold at least one cell")
    n_total = n_cells * n_trials
    key_data, cells_dev, seeds_dev = _replicated_inputs(base_key, cells, seeds, mesh)
    precompiled = block_fn is not None
    if not precompiled:
        block_fn = make_block_fn(trial_fn, mesh=mesh, sequential=sequential)
    shard = PartitionSpec(DEVICE_AXIS)
    main = is_main_process()

    partial = subset is not None
    if partial:
        checkpoint = None
        subset = np.asarray(subset, np.int64)
        if subset.size == 0 or subset.min() < 0 or subset.max() >= n_total:
            raise ValueError(
                f"subset must be non-empty indices in [0, {n_total}); got {subset!r}"
            )
    state = checkpoint.load() if checkpoint is not None else None
    if checkpoint is not None and checkpoint.note:
        print(checkpoint.note, file=sys.stderr)
    if state is not None and state["done"].shape != (n_total,):
        state = None
    done = np.zeros(n_total, bool) if state is None else state.pop("done")
    results: dict[str, np.ndarray] = state or {}

    todo = subset if partial else np.flatnonzero(~done)
    if not (precompiled or partial):
        # A run smaller than one block is not padded up to ``chunk``: the block shrinks
        # to the next power of two that holds it (few distinct shapes, at most 2x the
        # trials; the numbers do not depend on the block size).
        chunk = min(chunk, _next_pow2(-(-max(len(todo), 1) // n_dev)))
    block = chunk * n_dev
    if info is not None:
        info["chunk"] = int(chunk)
    if partial:
        n_total = len(subset)
        done = np.zeros(n_total, bool)
    bar = tqdm(
        total=n_total,
        initial=n_total - len(todo),
        disable=not (progress and main),
        desc=desc,
        file=sys.stderr,
        dynamic_ncols=True,
    )
    last_save = time.monotonic()

    def launch(idx):
        padded = np.concatenate([idx, np.full(block - len(idx), idx[0])])
        cell_idx = (padded // n_trials).astype(np.int32).reshape(n_dev, -1)
        trial_idx = (padded % n_trials).astype(np.int32).reshape(n_dev, -1)
        return block_fn(
            key_data,
            cells_dev,
            seeds_dev,
            global_array(cell_idx, mesh, shard),
            global_array(trial_idx, mesh, shard),
        )

    saved = {"first": True}

    def save():
        if main and checkpoint is not None:
            checkpoint.save({**results, "done": done})
            if saved.pop("first", False):
                _fault_pause("checkpoint")

    watchdog = Watchdog(stall_timeout, desc, on_stall=save)
    _fault_pause("start")
    # One block at a time: running a second XLA:CPU computation (such as refine_fn's)
    # while a block is in flight deadlocks jax 0.10.2's CPU runtime.
    for start in range(0, len(todo), block):
        batch = todo[start : start + block]
        out = gather(launch(batch))
        out = {
            k: np.asarray(v).reshape((block,) + np.shape(v)[2:])[: len(batch)]
            for k, v in out.items()
        }
        if refine_fn is not None:
            c_idx, t_idx = batch // n_trials, batch % n_trials
            keys = TrialKeys(base_key, np.asarray(seeds)[c_idx], t_idx)
            out = refine_fn(keys, c_idx, t_idx, out)
        where = np.arange(start, start + len(batch)) if partial else batch
        for k, v in out.items():
            if k not in results:
                results[k] = np.zeros((n_total,) + v.shape[1:], v.dtype)
            results[k][where] = v
        done[where] = True
        bar.update(len(batch))
        watchdog.beat()
        if time.monotonic() - last_save > checkpoint_every or done.all():
            save()
            last_save = time.monotonic()
    watchdog.stop()
    bar.close()
    if partial:
        return results
    return {k: v.reshape((n_cells, n_trials) + v.shape[1:]) for k, v in results.items()}
