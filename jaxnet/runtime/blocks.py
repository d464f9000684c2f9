"""Blocks and programs: one compiled program evaluates a block of trials sharded over
the mesh (``make_block_fn``), and a cost model groups work into few programs
(``merge_programs``)."""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec

from jaxnet.runtime.devices import DEVICE_AXIS, device_mesh, global_array
from jaxnet.runtime.keys import trial_key


def make_block_fn(trial_fn: Callable, *, mesh, sequential: bool = False) -> Callable:
    """Compile-once evaluator of a block of trials, sharded over ``mesh``.

    The returned function takes ``(key_data, cells, seeds, cell_idx, trial_idx)`` with
    ``key_data`` the base key's ``jax.random.key_data``, ``cell_idx, trial_idx:
    (n_dev, chunk)`` int32 and ``cells`` a dict of ``(C, ...)`` arrays, and returns the
    outputs with the same leading ``(n_dev, chunk)`` axes.
    Each device vmaps ``trial_fn`` over its ``chunk`` trials, or with ``sequential``
    runs them one after another (``lax.map``): for a ``trial_fn`` whose cost varies a lot
    from trial to trial (a ``while_loop`` to a random stopping time), where a vmapped
    chunk would run every lane as long as its slowest. (``lax.map`` around a LAPACK call
    deadlocks XLA:CPU with several devices, seen with jax 0.10.2: not for those.)
    """

    def per_device(key_data, cells, seeds, cell_idx, trial_idx):
        base_key = jax.random.wrap_key_data(key_data)

        def one(c, t):
            key = trial_key(base_key, seeds[c], t)
            return trial_fn(key, {k: v[c] for k, v in cells.items()})

        if sequential:
            out = jax.lax.map(lambda ct: one(*ct), (cell_idx[0], trial_idx[0]))
        else:
            out = jax.vmap(one)(cell_idx[0], trial_idx[0])
        return jax.tree.map(lambda a: a[None], out)

    rep, shard = PartitionSpec(), PartitionSpec(DEVICE_AXIS)
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


def compile_block_fn(
    trial_fn: Callable, cells, seeds, *, base_key, chunk: int, mesh=None
):
    """``make_block_fn`` compiled ahead of time for these cells and ``chunk``.

    ``run_sweep(..., block_fn=...)`` then starts without compiling.
    """
    mesh = device_mesh() if mesh is None else mesh
    idx = jax.ShapeDtypeStruct(
        (mesh.size, chunk),
        jnp.int32,
        sharding=NamedSharding(mesh, PartitionSpec(DEVICE_AXIS)),
    )
    key_data, cells_dev, seeds_dev = _replicated_inputs(base_key, cells, seeds, mesh)
    return (
        make_block_fn(trial_fn, mesh=mesh)
        .lower(key_data, cells_dev, seeds_dev, idx, idx)
        .compile()
    )


def merge_programs(
    groups: list,
    cost: Callable,
    *,
    compile_seconds: float,
    max_programs: int | None = None,
    compatible: Callable | None = None,
) -> list[np.ndarray]:
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
        groups = [g for k, g in enumerate(groups) if k not in (i, j)] + [
            np.sort(merged)
        ]
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
