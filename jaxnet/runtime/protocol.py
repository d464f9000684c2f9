"""The experiment protocol: ``Spec``, ``Options``, the run ``Context`` (parts and their
identities, checkpoints, child contexts, the audit's replay), ``Result`` and ``run``.

``run(experiment, config, options)`` calls the experiment's ``compute(config, ctx)``,
adds the shared ``results.json`` fields (``experiment``, ``document``, ``config``,
``metadata``: versions, backend, devices, processes, x64, wall time; ``provenance``:
commit, tree state, source fingerprint, config and parts) and writes ``results.json``,
``parts.npz``, the arrays file and the figures atomically into ``out``.
"""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path
from typing import Any

import jax
import numpy as np

from jaxnet.runtime import io, plugins
from jaxnet.runtime.device_loop import run_device
from jaxnet.runtime.devices import device_mesh, init_distributed, is_main_process
from jaxnet.runtime.host_pool import run_host
from jaxnet.runtime.identity import describe
from jaxnet.runtime.io import Checkpoint


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
      audit_atol: per output field, an absolute tolerance as well (default 0): for a
        field whose value is itself a rounding error, which no refactor keeps to the
        bit.
    """

    name: str
    document: str
    arrays: str = "arrays.npz"
    options: tuple[str, ...] = ("out",)
    x64: bool = True
    audit_rtol: dict | None = None
    audit_atol: dict | None = None


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
            raise ValueError(
                f"process_id must be in [0, num_processes); got {self.process_id}"
            )
        if self.num_processes > 1 and ":" not in self.coordinator:
            raise ValueError(
                f"coordinator must be HOST:PORT with num_processes > 1; "
                f"got {self.coordinator!r}"
            )


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

    def __init__(
        self,
        name: str,
        config,
        options: Options,
        out: Path | None,
        *,
        audit=None,
        parts: list | None = None,
    ):
        self.name = name
        self.config = config
        self.options = options
        self.out = out
        self.base_key = jax.random.key(getattr(config, "seed", 0))
        from jaxnet.runtime import config as config_lib

        self.fingerprint = io.fingerprint(
            {
                "experiment": name,
                **(config_lib.identity(config) if config is not None else {}),
            }
        )
        self.progress = options.progress and is_main_process()
        self.audit = audit  # a jaxnet.audit.Replay: parts come from the stored run
        self.parts = [] if parts is None else parts  # shared with child contexts
        self._checkpoints: list[Checkpoint] = []
        self._children: list[Context] = []

    @classmethod
    def detached(cls, name: str, config, *, base_key=None, **options) -> Context:
        """A context that writes nothing (library calls outside an experiment run),
        with ``base_key`` instead of the config's seed if given."""
        ctx = cls(
            name,
            config,
            Options(**{"progress": False, "stall_timeout": 0.0, **options}),
            None,
        )
        if base_key is not None:
            ctx.base_key = base_key
        return ctx

    def child(self, folder: str, name: str, config) -> Context:
        """The context of a sub-computation: experiment ``name`` with ``config``, its
        checkpoints in ``out/folder``; its parts are stored with this run's."""
        out = None if self.out is None else io.check_writable_dir(self.out / folder)
        sub = Context(
            name, config, self.options, out, audit=self.audit, parts=self.parts
        )
        self._children.append(sub)
        return sub

    def part_id(
        self,
        kind: str,
        trial_fn,
        cells,
        seeds,
        n_trials: int,
        *,
        static=None,
        refine_fn=None,
    ) -> str:
        """The identity of a part (class docstring)."""
        return io.fingerprint(
            {
                "data": self.data_id(kind, cells, seeds, n_trials, static=static),
                "trial_fn": describe(trial_fn),
                "refine_fn": describe(refine_fn),
            }
        )

    def data_id(self, kind: str, cells, seeds, n_trials: int, *, static=None) -> str:
        """What a part's trials are drawn for, without the code that computes them
        (experiment, config, cells, seeds, trial count, static arguments): how the
        audit finds a stored part again after its trial function moved or was renamed
        (the recomputed trials then show whether the numbers moved too)."""
        return io.fingerprint(
            {
                "experiment": self.name,
                "config": self.fingerprint,
                "kind": kind,
                "static": describe(static),
                "cells": describe(cells),
                "seeds": describe(np.asarray(seeds, np.uint32)),
                "n_trials": int(n_trials),
            }
        )

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
        self.parts.append(
            {
                "id": pid,
                "kind": kind,
                "experiment": self.name,
                "desc": desc,
                "trial_fn": name.get("fn", str(name))
                if isinstance(name, dict)
                else name,
                "cells": int(n_cells),
                "trials": int(n_trials),
                **extra,
                "outputs": {k: v for k, v in outputs.items() if k != "done"},
            }
        )

    def device(
        self,
        trial_fn,
        cells,
        seeds,
        n_trials,
        *,
        chunk,
        desc=None,
        refine_fn=None,
        **kwargs,
    ):
        """``run_device`` with this run's key, checkpoints, progress and watchdog."""
        pid = self.part_id(
            "device", trial_fn, cells, seeds, n_trials, refine_fn=refine_fn
        )
        desc = desc or self.name
        data = self.data_id("device", cells, seeds, n_trials)
        if self.audit is not None:
            part = (trial_fn, cells, seeds, n_trials)
            kw = dict(refine_fn=refine_fn, desc=desc, chunk=chunk, **kwargs)
            return self.audit.device(self, (pid, data), *part, **kw)
        info = {}
        out = run_device(
            trial_fn,
            cells,
            seeds,
            n_trials,
            base_key=self.base_key,
            chunk=chunk,
            refine_fn=refine_fn,
            checkpoint=self._checkpoint(pid),
            checkpoint_every=self.options.checkpoint_every,
            progress=self.progress,
            desc=desc,
            stall_timeout=self.options.stall_timeout,
            info=info,
            **kwargs,
        )
        self._record(
            pid,
            "device",
            trial_fn,
            desc,
            len(seeds),
            n_trials,
            out,
            data_id=data,
            chunk=info["chunk"],
            devices=int((kwargs.get("mesh") or device_mesh()).size),
            sequential=bool(kwargs.get("sequential", False)),
        )
        return out

    def host(
        self, trial_fn, cells, seeds, n_trials, *, static=None, desc=None, **kwargs
    ):
        """``run_host`` with this run's key, workers, checkpoints, progress and
        watchdog."""
        pid = self.part_id("host", trial_fn, cells, seeds, n_trials, static=static)
        desc = desc or self.name
        data = self.data_id("host", cells, seeds, n_trials, static=static)
        if self.audit is not None:
            part = (trial_fn, cells, seeds, n_trials)
            return self.audit.host(self, (pid, data), *part, static=static, desc=desc)
        out = run_host(
            trial_fn,
            cells,
            seeds,
            n_trials,
            base_key=self.base_key,
            static=static,
            workers=self.options.workers,
            checkpoint=self._checkpoint(pid),
            checkpoint_every=self.options.checkpoint_every,
            progress=self.progress,
            desc=desc,
            stall_timeout=self.options.stall_timeout,
            **kwargs,
        )
        self._record(
            pid, "host", trial_fn, desc, len(cells), n_trials, out, data_id=data
        )
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


def report_head(results: dict, count: str = "trials", noun: str | None = None) -> str:
    """The first words of an experiment's ``report``: ``"C cells, T trials, W s"``,
    T the sum of the cells' ``count`` field (named ``noun``, default ``count``)."""
    cells = results["cells"]
    return (
        f"{len(cells)} cells, {sum(c[count] for c in cells)} {noun or count}, "
        f"{results['metadata']['wall_time_s']:.1f} s"
    )


def config_dict(experiment, config, options: Options) -> dict:
    """``results.json``'s ``config``: the experiment's fields and its exposed options."""
    return {
        **dataclasses.asdict(config),
        **{name: getattr(options, name) for name in experiment.SPEC.options},
    }


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
    results = {
        "experiment": spec.name,
        "document": spec.document,
        "config": config_d,
        **body,
        "metadata": {**io.run_metadata(wall), **extra_meta},
    }
    results["provenance"] = {
        **io.provenance(),
        # every Config field as given (``config`` above may hold descriptions that
        # compute filled in): what the audit rebuilds the Config from
        "config": dataclasses.asdict(config),
        "plugins": list(plugins.loaded()),
        "parts": [{k: v for k, v in p.items() if k != "outputs"} for p in ctx.parts],
    }
    result = Result(experiment, results, arrays, out)
    if out is not None and is_main_process():
        import matplotlib.pyplot as plt

        if ctx.parts:
            io.write_npz(
                out / PARTS_FILE,
                compressed=True,
                **{
                    f"{p['id']}.{k}": v
                    for p in ctx.parts
                    for k, v in p["outputs"].items()
                },
            )
        if arrays:
            io.write_npz(out / spec.arrays, **arrays)
        io.write_json(out / "results.json", results)
        for name, fig in result.plot().items():
            io.write_figure(out / name, fig)
            plt.close(fig)
        ctx.remove_checkpoints()
    return result
