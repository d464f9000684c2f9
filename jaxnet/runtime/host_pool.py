"""The host pool (``run_host``): solver work (LPs, conic programs) on spawned worker
processes, each trial's NumPy generator seeded from its JAX key, so results depend on
neither the worker count nor the order."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable

import numpy as np

from jaxnet.runtime import plugins
from jaxnet.runtime.device_loop import _check_positive
from jaxnet.runtime.devices import is_main_process
from jaxnet.runtime.io import Checkpoint
from jaxnet.runtime.keys import host_rng, trial_key_data
from jaxnet.runtime.watchdog import Watchdog


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
    # each worker loads this process's plugins (their registrations) before any trial
    pool = ProcessPoolExecutor(workers, mp_context=ctx, initializer=plugins.load)
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
            'in a script, put it under `if __name__ == "__main__":` (spawned workers '
            "import the script), or pass workers=1 to run in this process"
        ) from None
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
    subset: np.ndarray | None = None,
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
      workers: worker processes (0: one per CPU; 1: in this process) of each process
        (in a multi-process run every process computes every trial). Workers are
        *spawned* (a fork would copy JAX's threads); if they die (for example in a
        script without a ``__main__`` guard) ``HostPoolError`` says so at once.
      checkpoint, checkpoint_every: where and how often to save finished trials.
      progress, desc: the progress bar.
      cost: optional ``cost(cell) -> float``; expensive cells are started first so
        the workers finish together.
      stall_timeout: abort (``Watchdog``) when no trial finishes for this many seconds
        (0: never).
      subset: run only these trials (flat ``cell * n_trials + t``), no checkpoint, and
        return their outputs ``(len(subset), ...)`` (the audit).

    Returns:
      dict of ``(C, n_trials)`` NumPy arrays, one per output field, and ``done`` (or
      ``(len(subset),)`` arrays with ``subset``).
    """
    from tqdm.auto import tqdm

    _check_positive(n_trials=n_trials)
    if not len(cells):
        raise ValueError("cells must hold at least one cell")
    keys = trial_key_data(base_key, seeds, n_trials)
    static = static or {}
    if subset is not None:
        subset = np.asarray(subset, np.int64)
        pairs = [(int(u) // n_trials, int(u) % n_trials) for u in subset]
        shape, checkpoint = (len(subset),), None
        index = {p: i for i, p in enumerate(pairs)}
    else:
        order = (
            np.argsort([-cost(c) for c in cells], kind="stable")
            if cost
            else range(len(cells))
        )
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

    tasks = [
        (trial_fn, c, t, cells[c], keys[c, t], static)
        for c, t in pairs
        if not done[slot(c, t)]
    ]
    workers = workers or os.cpu_count() or 1
    bar = tqdm(
        total=done.size,
        initial=int(done.sum()),
        disable=not progress,
        desc=desc,
        file=sys.stderr,
        dynamic_ncols=True,
    )
    last = time.monotonic()

    def save():  # in a multi-process run every process computes every trial; the
        # first writes (a second writer could replace the file in mid-write)
        if checkpoint is not None and is_main_process():
            checkpoint.save(state)

    watchdog = Watchdog(stall_timeout, desc, on_stall=save)
    try:
        results = (
            _pool_results(tasks, workers)
            if workers > 1 and len(tasks) > 1
            else map(_host_call, tasks)
        )
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
