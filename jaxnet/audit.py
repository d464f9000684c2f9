"""Recompute stored trials with today's code and re-derive stored results: the audit.

Every trial is a pure function of (seed, cell, t), and every run stores the raw outputs
of each of its parts (``parts.npz``, ``jaxnet.runtime.Context``) with their identities
(``results.json``'s ``provenance.parts``). ``audit_run`` re-runs an experiment's
``compute`` on its stored config with a ``Replay`` context:

1. each part the code asks for must be stored under the identity today's code derives
   for it (a missing part means the stored run came from other code or config);
2. of each part (of ``max_parts`` random parts when an experiment has more; the rest
   are checked for their identity only), ``per_cell`` random trials of every cell are
   recomputed alone, in the
   program shape they were computed in (the stored per-device chunk), and compared
   with the stored outputs: integers, booleans and decisions exactly, floats within
   the field's relative tolerance (``Spec.audit_rtol``, default ``DEFAULT_RTOL``; a
   field that is itself a rounding error also gets ``Spec.audit_atol``);
   fields named ``*seconds*`` are timings and are not compared;
3. the stored outputs are handed back to ``compute``, whose results and arrays are
   compared with ``results.json`` (all but ``metadata``, ``provenance`` and timings)
   and the arrays file, to ``DERIVED_RTOL``.

Each check that fails is a ``Mismatch`` naming the experiment, the part, the cell, the
trial and the field.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import jax
import numpy as np

from jaxnet import runtime
from jaxnet.runtime import io, plugins

DEFAULT_RTOL = 1e-9  # a recomputed float output against the stored one
DERIVED_RTOL = 1e-9  # a re-derived results.json number or array against the stored one


@dataclasses.dataclass(frozen=True)
class Mismatch:
    experiment: str
    where: str
    field: str
    detail: str

    def __str__(self) -> str:
        return f"{self.experiment}: {self.where}: field {self.field!r}: {self.detail}"


class AuditError(RuntimeError):
    """A stored run that cannot be audited (no stored parts, an unknown part)."""


def _timing(name: str) -> bool:
    return "seconds" in name or name in ("wall_time_s", "finished_at")


def _close(a, b, rtol: float, atol: float = 0.0) -> np.ndarray:
    """Elementwise agreement: exact for integers, booleans and strings; floats within
    ``rtol`` (relative to the larger magnitude) or ``atol``, NaN equal to NaN."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        return np.zeros((), bool)
    if a.dtype.kind in "fc" or b.dtype.kind in "fc":
        a, b = a.astype(np.complex128), b.astype(np.complex128)
        both_nan = np.isnan(a) & np.isnan(b)
        with np.errstate(invalid="ignore"):
            diff = np.abs(a - b)
            ok = (a == b) | (diff <= rtol * np.maximum(np.abs(a), np.abs(b)))
            ok |= diff <= atol
        return ok | both_nan
    return a == b


class Replay:
    """The ``Context.audit`` of an audit: parts come from the stored run after a
    sample of their trials is recomputed and compared (module docstring)."""

    def __init__(
        self,
        experiment: str,
        parts_file: Path,
        manifest: list[dict],
        *,
        per_cell: int,
        rng: np.random.Generator,
        rtol: dict | None = None,
        max_parts: int = 0,
        atol: dict | None = None,
    ):
        self.experiment = experiment
        self.stored = {}
        if manifest:  # an experiment without trials (a drawing) stores no parts
            with np.load(parts_file, allow_pickle=False) as z:
                self.stored = {k: z[k] for k in z.files}
        self.manifest = {p["id"]: p for p in manifest}
        ids = list(self.manifest)
        if max_parts and len(ids) > max_parts:
            ids = [
                ids[i] for i in sorted(rng.choice(len(ids), max_parts, replace=False))
            ]
        self.sampled = set(ids)  # the parts whose trials are recomputed
        self.per_cell = per_cell
        self.rng = rng
        self.rtol = rtol or {}
        self.atol = atol or {}
        self.mismatches: list[Mismatch] = []
        self.recomputed = 0
        self.visited: set[str] = set()
        self.renamed: list[tuple[str, str]] = []  # (stored trial function, part)

    def _part(self, ids: tuple[str, str], desc: str) -> tuple[dict, dict]:
        pid, data = ids
        if pid not in self.manifest:
            # The trial function moved or changed: the part drawn for the same data
            # (the first not yet visited, in run order) is recomputed and compared.
            same = [
                p
                for p, m in self.manifest.items()
                if m.get("data_id") == data and p not in self.visited
            ]
            if not same:
                raise AuditError(
                    f"{self.experiment}: part {desc!r} ({pid}) is not among the stored "
                    "parts: the stored results come from another config or code that "
                    "draws other trials"
                )
            self.renamed.append((self.manifest[same[0]]["trial_fn"], desc))
            pid = same[0]
        self.visited.add(pid)
        prefix = pid + "."
        return self.manifest[pid], {
            k[len(prefix) :]: v for k, v in self.stored.items() if k.startswith(prefix)
        }

    def _sample(self, n_cells: int, n_trials: int) -> np.ndarray:
        k = min(self.per_cell, n_trials)
        picks = [
            c * n_trials + np.sort(self.rng.choice(n_trials, k, replace=False))
            for c in range(n_cells)
        ]
        return np.concatenate(picks)

    def _compare(self, desc, stored, got, subset, n_trials, cell_name):
        self.recomputed += len(subset)
        for field, full in stored.items():
            if _timing(field):
                continue
            if field not in got:
                self.mismatches.append(
                    Mismatch(
                        self.experiment,
                        f"part {desc!r}",
                        field,
                        "not produced by today's code",
                    )
                )
                continue
            want = full.reshape((-1,) + full.shape[2:])[subset]
            ok = _close(
                want,
                got[field],
                self.rtol.get(field, DEFAULT_RTOL),
                self.atol.get(field, 0.0),
            )
            ok = (
                ok.reshape(len(subset), -1).all(axis=1)
                if ok.ndim
                else np.zeros(len(subset), bool)
            )
            for i in np.flatnonzero(~ok)[:3]:
                c, t = divmod(int(subset[i]), n_trials)
                self.mismatches.append(
                    Mismatch(
                        self.experiment,
                        f"part {desc!r}, cell {cell_name(c)}, trial {t}",
                        field,
                        f"stored {_short(want[i])}, recomputed {_short(got[field][i])}",
                    )
                )

    def device(
        self,
        ctx,
        ids,
        trial_fn,
        cells,
        seeds,
        n_trials,
        *,
        refine_fn,
        desc,
        chunk,
        mesh=None,
        sequential=False,
        block_fn=None,
        **_,
    ):
        meta, stored = self._part(ids, desc)
        if meta["id"] not in self.sampled:
            return stored
        subset = self._sample(len(seeds), n_trials)
        n_dev = (mesh or runtime.device_mesh()).size
        if sequential:  # one trial after another: no lane shares a program with another
            run_chunk = min(meta["chunk"], -(-len(subset) // n_dev))
        else:  # the stored block shape: a vmapped program rounds per its batch size
            run_chunk = meta["chunk"]
        reuse = block_fn if (block_fn is not None and run_chunk == chunk) else None
        got = runtime.run_device(
            trial_fn,
            cells,
            seeds,
            n_trials,
            base_key=ctx.base_key,
            chunk=run_chunk,
            refine_fn=refine_fn,
            progress=False,
            mesh=mesh,
            sequential=sequential,
            subset=subset,
            block_fn=reuse,
        )
        self._compare(
            desc,
            stored,
            got,
            subset,
            n_trials,
            lambda c: {k: _short(np.asarray(v)[c]) for k, v in cells.items()},
        )
        return stored

    def host(self, ctx, ids, trial_fn, cells, seeds, n_trials, *, static, desc):
        meta, stored = self._part(ids, desc)
        done = {"done": np.ones(next(iter(stored.values())).shape[:2], bool)}
        if meta["id"] not in self.sampled:
            return {**stored, **done}
        subset = self._sample(len(cells), n_trials)
        got = runtime.run_host(
            trial_fn,
            cells,
            seeds,
            n_trials,
            base_key=ctx.base_key,
            static=static,
            workers=1,
            progress=False,
            subset=subset,
        )
        self._compare(desc, stored, got, subset, n_trials, lambda c: _short(cells[c]))
        return {**stored, **done}


def _short(v) -> str:
    text = repr(v.tolist() if isinstance(v, np.ndarray | np.generic) else v)
    return text if len(text) <= 80 else text[:77] + "..."


def _compare_tree(stored, derived, path: str, out: list[str]) -> None:
    """Differences between two JSON trees (timings skipped), as ``path: detail``."""
    if isinstance(stored, dict) and isinstance(derived, dict):
        for k in sorted(set(stored) | set(derived)):
            if _timing(k):
                continue
            if k not in stored or k not in derived:
                out.append(
                    f"{path}.{k}: only in the {'stored' if k in stored else 're-derived'}"
                    " results"
                )
                continue
            _compare_tree(stored[k], derived[k], f"{path}.{k}", out)
        return
    if isinstance(stored, list) and isinstance(derived, list):
        if len(stored) != len(derived):
            out.append(
                f"{path}: {len(stored)} stored entries, {len(derived)} re-derived"
            )
            return
        for i, (a, b) in enumerate(zip(stored, derived, strict=True)):
            _compare_tree(a, b, f"{path}[{i}]", out)
        return
    num = (int, float)
    if (
        isinstance(stored, num)
        and isinstance(derived, num)
        and not isinstance(stored, bool)
        and not isinstance(derived, bool)
    ):
        if not bool(_close(float(stored), float(derived), DERIVED_RTOL)):
            out.append(f"{path}: stored {stored!r}, re-derived {derived!r}")
        return
    if stored != derived:
        out.append(f"{path}: stored {_short(stored)}, re-derived {_short(derived)}")


@dataclasses.dataclass
class AuditResult:
    experiment: str
    folder: str
    recomputed: int
    parts: int
    cells: int
    seconds: float
    mismatches: list
    renamed: int = 0  # parts found by their data: the trial function moved
    sampled: int | None = None  # parts whose trials were recomputed (None: all)

    @property
    def ok(self) -> bool:
        return not self.mismatches

    def line(self) -> str:
        if self.ok:
            moved = (
                f", {self.renamed} found by their data: the code describing them changed"
                if self.renamed
                else ""
            )
            return (
                f"[audit] {self.experiment}: OK ({self.recomputed} trials recomputed in "
                + (
                    f"{self.sampled} of "
                    if self.sampled is not None and self.sampled < self.parts
                    else ""
                )
                + f"{self.parts} parts{moved}; results and arrays re-derived; "
                f"{self.seconds:.0f} s)"
            )
        first = "; ".join(str(m) for m in self.mismatches[:3])
        more = len(self.mismatches) - 3
        return (
            f"[audit] {self.experiment}: MISMATCH ({len(self.mismatches)}): {first}"
            + (f"; and {more} more" if more > 0 else "")
        )


def config_of(experiment, stored_config: dict):
    """The experiment's ``Config`` from ``results.json``'s ``config``."""
    names = {f.name for f in dataclasses.fields(experiment.Config)}
    return experiment.Config(**{k: v for k, v in stored_config.items() if k in names})


def audit_run(
    folder, *, per_cell: int = 1, seed: int = 0, max_parts: int = 0
) -> AuditResult:
    """Audit the stored run in ``folder`` (module docstring); ``max_parts`` > 0
    recomputes trials of that many random parts only (every part's identity is still
    checked and every stored output still re-derives the results)."""
    from jaxnet.experiments import module

    folder = Path(folder)
    t0 = time.perf_counter()
    stored = io.read_json(folder / "results.json")
    name = folder.name
    plugins.load(stored.get("provenance", {}).get("plugins", ()))
    experiment = module(stored["experiment"])
    spec = experiment.SPEC
    manifest = stored.get("provenance", {}).get("parts")
    if manifest is None:
        raise AuditError(
            f"{name}: results.json has no provenance.parts (computed "
            "before run identities were stored): regenerate it"
        )
    if spec.x64:
        jax.config.update("jax_enable_x64", True)
    cfg = config_of(experiment, stored["provenance"].get("config", stored["config"]))
    rng = np.random.default_rng(
        [seed, int(io.file_sha256(folder / "results.json")[:8], 16)]
    )
    replay = Replay(
        name,
        folder / runtime.PARTS_FILE,
        manifest,
        per_cell=per_cell,
        max_parts=max_parts,
        rng=rng,
        rtol=spec.audit_rtol,
        atol=spec.audit_atol,
    )
    ctx = runtime.Context(
        spec.name, cfg, runtime.Options(progress=False), None, audit=replay
    )
    body, arrays = experiment.compute(cfg, ctx)
    mismatches = list(replay.mismatches)
    for pid in sorted(set(replay.manifest) - replay.visited):
        mismatches.append(
            Mismatch(
                name,
                f"part {replay.manifest[pid]['desc']!r}",
                "-",
                "stored but not asked for by today's code",
            )
        )
    body.pop("metadata", None)
    derived_config = {**stored["config"], **body.pop("config", {})}
    derived = {
        "experiment": spec.name,
        "document": spec.document,
        "config": derived_config,
        **body,
    }
    expected = {k: v for k, v in stored.items() if k not in ("metadata", "provenance")}
    diffs: list[str] = []
    _compare_tree(expected, io.to_jsonable(derived), "results", diffs)
    mismatches += [
        Mismatch(name, "results.json", d.split(":")[0], d.split(": ", 1)[1])
        for d in diffs[:20]
    ]
    if arrays:
        with np.load(folder / spec.arrays, allow_pickle=False) as z:
            stored_arrays = {k: z[k] for k in z.files}
        for k in sorted(set(stored_arrays) | set(arrays)):
            if k not in stored_arrays or k not in arrays:
                mismatches.append(
                    Mismatch(
                        name,
                        spec.arrays,
                        k,
                        "only in the "
                        + ("stored" if k in stored_arrays else "re-derived")
                        + " arrays",
                    )
                )
            else:
                ok = _close(stored_arrays[k], np.asarray(arrays[k]), DERIVED_RTOL)
                if not np.all(ok):
                    where = (
                        f"at index {tuple(int(i) for i in np.argwhere(~ok)[0])}"
                        if np.ndim(ok)
                        else "in shape"
                    )
                    mismatches.append(
                        Mismatch(
                            name,
                            spec.arrays,
                            k,
                            f"differs from the re-derived array {where}"
                            f" ({int(np.size(ok) - np.sum(ok))} "
                            "entries)",
                        )
                    )
    return AuditResult(
        name,
        str(folder),
        replay.recomputed,
        len(replay.visited),
        sum(p["cells"] for p in manifest),
        time.perf_counter() - t0,
        mismatches,
        len(replay.renamed),
        len(replay.sampled & replay.visited),
    )
