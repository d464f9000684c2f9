"""Atomic result files, run metadata and config fingerprints: jaxnet's only file I/O.

Every write goes to a temporary file in the destination folder and is renamed over the
target (``os.replace`` is atomic on POSIX), so a killed run never leaves a half-written
results file behind.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np


def to_jsonable(obj):
    """``obj`` as JSON types (what ``write_json`` writes)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return to_jsonable(dataclasses.asdict(obj))
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        obj = float(obj)
    if isinstance(obj, float) and not np.isfinite(obj):
        return None if np.isnan(obj) else ("inf" if obj > 0 else "-inf")
    if isinstance(obj, np.bool_):
        return bool(obj)
    return obj


def _atomic_write(path: Path, write_fn, suffix: str) -> None:
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    try:
        os.fchmod(fd, 0o644)  # mkstemp's 0600 would hide results from others
        with os.fdopen(fd, "wb") as f:
            write_fn(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_json(path, obj: Any) -> None:
    """Write ``obj`` as indented JSON, atomically."""
    text = json.dumps(to_jsonable(obj), indent=1, allow_nan=False)
    _atomic_write(Path(path), lambda f: f.write(text.encode()), ".tmp")


def write_text(path, text: str) -> None:
    """Write ``text`` (UTF-8), atomically."""
    _atomic_write(Path(path), lambda f: f.write(text.encode()), ".tmp")


def write_npz(path, *, compressed: bool = False, **arrays) -> None:
    """``np.savez`` (``np.savez_compressed`` with ``compressed``) to ``path``,
    atomically."""
    save = np.savez_compressed if compressed else np.savez
    _atomic_write(Path(path), lambda f: save(f, **arrays), ".tmp")


def write_figure(path, fig) -> None:
    """Save a matplotlib figure (format from the suffix), atomically."""
    path = Path(path)
    _atomic_write(path, lambda f: fig.savefig(f, format=path.suffix[1:]), ".tmp")


def read_json(path) -> Any:
    with open(path) as f:
        return json.load(f)


def fingerprint(obj: Any) -> str:
    """A stable hash of a JSON-able config (key order does not matter)."""
    text = json.dumps(to_jsonable(obj), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


# The report layer: reads results files, never changes them (left out of the code
# fingerprint, so rewording a verdict does not invalidate computed results).
_NOT_RESULTS_CODE = ("claims/",)
_PROVENANCE: dict | None = None


def source_files() -> list[Path]:
    """The files ``source_fingerprint`` covers: every ``.py`` under ``jaxnet/`` except
    the report layer, sorted."""
    root = Path(__file__).parents[1]  # jaxnet/
    return [
        path
        for path in sorted(root.rglob("*.py"))
        if not path.relative_to(root).as_posix().startswith(_NOT_RESULTS_CODE)
        and "__pycache__" not in path.parts
    ]


def source_fingerprint() -> str:
    """SHA-256 (16 hex digits) of the jaxnet package's Python sources (``source_files``:
    path and bytes of each). This is what "the code" means for the results cache and
    ``provenance``; the report layer (``jaxnet/claims/``) is left out, so rewording a
    verdict does not invalidate computed results."""
    root = Path(__file__).parents[1]
    h = hashlib.sha256()
    for path in source_files():
        rel = path.relative_to(root).as_posix()
        h.update(rel.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def _git(*args) -> str | None:
    try:
        out = subprocess.run(
            ["git", *args],
            capture_output=True,
            text=True,
            timeout=10,
            cwd=Path(__file__).parent,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout if out.returncode == 0 else None


def provenance() -> dict:
    """The code a run used: ``commit`` (git HEAD, or None outside a checkout),
    ``dirty`` (uncommitted changes to ``jaxnet/``, ``scripts/`` or ``pyproject.toml``;
    None outside a checkout) and ``source_fingerprint`` (``source_fingerprint``).

    Read once per process, the first time it is asked for (``scripts/reproduce.py``
    asks before its first experiment), so every result of one process names the code
    that process loaded."""
    global _PROVENANCE
    if _PROVENANCE is None:
        head = _git("rev-parse", "HEAD")
        status = _git(
            "status",
            "--porcelain",
            "--untracked-files=no",
            "--",
            "jaxnet",
            "scripts",
            "pyproject.toml",
        )
        _PROVENANCE = {
            "commit": head.strip() if head else None,
            "dirty": None if status is None else bool(status.strip()),
            "source_fingerprint": source_fingerprint(),
        }
    return dict(_PROVENANCE)


def run_metadata(wall_time_s: float | None = None) -> dict:
    """Versions, backend, devices, x64 flag, git commit, host and time of a run."""
    import jax

    devices = jax.devices()
    return {
        "versions": {
            name: _version(name)
            for name in ("jax", "jaxlib", "optax", "flax", "numpy", "scipy", "jaxnet")
        },
        "python": sys.version.split()[0],
        "backend": jax.default_backend(),
        "device_count": len(devices),
        "devices": sorted({d.device_kind for d in devices}),
        "process_count": jax.process_count(),
        "x64": bool(jax.config.jax_enable_x64),
        "git_commit": provenance()["commit"],
        "host": platform.node(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "wall_time_s": wall_time_s,
    }


def check_writable_dir(path) -> Path:
    """Create ``path`` if needed and check that files can be written in it.

    Raises:
      ValueError: if it cannot be created or written to.
    """
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path, prefix=".write-test.")
        os.close(fd)
        os.unlink(tmp)
    except OSError as err:
        raise ValueError(
            f"--out {str(path)!r} is not a writable directory: {err}"
        ) from None
    return path


class Checkpoint:
    """Per-trial results of an unfinished sweep, tied to its config by a fingerprint.

    The file is an ``.npz`` with the arrays, a boolean ``done`` mask and the
    fingerprint; a file with another fingerprint, or one that cannot be read, is
    ignored (reported through ``note``), never used as data.
    """

    def __init__(self, path, config_fingerprint: str):
        self.path = Path(path)
        self.fingerprint = config_fingerprint
        self.note = ""

    def load(self) -> dict[str, np.ndarray] | None:
        if not self.path.exists():
            return None
        try:
            with np.load(self.path, allow_pickle=False) as z:
                data = {k: z[k] for k in z.files}
        except Exception as err:  # a truncated or corrupted file: recompute
            self.note = f"checkpoint {self.path} unreadable ({type(err).__name__}); starting over"
            return None
        if str(data.pop("__fingerprint__", "")) != self.fingerprint:
            self.note = f"checkpoint {self.path} is for another config; starting over"
            return None
        return data

    def save(self, arrays: dict[str, np.ndarray]) -> None:
        write_npz(self.path, __fingerprint__=np.asarray(self.fingerprint), **arrays)

    def remove(self) -> None:
        if self.path.exists():
            self.path.unlink()


def file_sha256(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class ResultsCache:
    """A finished run's files, reused only for the same config and only if intact.

    ``DIR/cache.json`` records the config's fingerprint, the code fingerprint
    (``source_fingerprint``) the files were made or last audited with, and the SHA-256
    of every file the run wrote. ``valid()`` is true only if the record reads, its
    fingerprint is the config's and every file hashes to its record: a changed config
    never reuses stale numbers, and a truncated or corrupted file is detected, so the
    run is redone. ``same_code()`` says whether the code is still the record's; where
    it is not, ``scripts/reproduce.py`` reuses the files only if the audit passes.

    ``same_as`` lists older spellings of the same config (a record written before a
    command-line option existed, for a run that used the option's default): a record
    under one of them is valid too, and ``commit`` rewrites it under ``config``.
    """

    def __init__(
        self,
        directory,
        config: Any,
        files=("results.json",),
        code: str | None = None,
        same_as=(),
    ):
        self.dir = Path(directory)
        self.key = fingerprint(config)
        self._keys = {self.key, *(fingerprint(c) for c in same_as)}
        self.config = config
        self.files = tuple(files)
        self.code = code
        self.note = ""

    def same_code(self) -> bool:
        """Whether the record was made (or last audited) with the code ``code``."""
        try:
            return read_json(self.record).get("code") == self.code
        except (OSError, ValueError, AttributeError):
            return False

    @property
    def record(self) -> Path:
        return self.dir / "cache.json"

    def valid(self) -> bool:
        try:
            rec = read_json(self.record)
        except (OSError, ValueError) as err:
            self.note = f"no usable cache record ({type(err).__name__})"
            return False
        if not isinstance(rec, dict) or rec.get("key") not in self._keys:
            self.note = "cache record is for another config"
            return False
        for name in self.files:
            path = self.dir / name
            try:
                ok = path.is_file() and file_sha256(path) == rec.get("sha256", {}).get(
                    name
                )
            except OSError:
                ok = False
            if not ok:
                self.note = f"{path} is missing or does not match its recorded hash"
                return False
        return True

    def load(self, name: str = "results.json") -> Any:
        """The JSON file ``name``, only after ``valid()``."""
        if not self.valid():
            raise ValueError(f"{self.dir}: {self.note}")
        return read_json(self.dir / name)

    def commit(self) -> None:
        """Record the finished run (after every file was written)."""
        write_json(
            self.record,
            {
                "key": self.key,
                "config": self.config,
                "code": self.code,
                "sha256": {name: file_sha256(self.dir / name) for name in self.files},
            },
        )

    def invalidate(self) -> None:
        if self.record.exists():
            self.record.unlink()
