"""What a part of a run is: a stable description of functions and values.

``describe`` turns a trial function (with the values its closure captured), its static
arguments and its cells into JSON; ``jaxnet.runtime.protocol.Context`` hashes it into
the part's identity, which names its checkpoint and its stored outputs.
"""

from __future__ import annotations

import dataclasses

import jax
import numpy as np


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
    if isinstance(obj, jax.Array) and jax.dtypes.issubdtype(
        obj.dtype, jax.dtypes.prng_key
    ):
        obj = jax.random.key_data(obj)
    if isinstance(obj, np.ndarray | jax.Array):
        a = np.ascontiguousarray(np.asarray(obj))
        return {
            "array": list(a.shape),
            "dtype": str(a.dtype),
            "sha256": hashlib.sha256(a.tobytes()).hexdigest()[:16],
        }
    if isinstance(obj, dict):
        return {str(k): d(v) for k, v in sorted(obj.items(), key=lambda kv: str(kv[0]))}
    if isinstance(obj, frozenset | set):
        return sorted((d(v) for v in obj), key=repr)
    if hasattr(obj, "_fields") and isinstance(obj, tuple):  # NamedTuple
        return {
            "type": type(obj).__qualname__,
            **{f: d(getattr(obj, f)) for f in obj._fields},
        }
    if isinstance(obj, list | tuple | range):
        return [d(v) for v in obj]
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        # Fields marked ``affects_results=False`` (a chunk size) are left out.
        return {
            "type": type(obj).__qualname__,
            **{
                f.name: d(getattr(obj, f.name))
                for f in dataclasses.fields(obj)
                if f.metadata.get("affects_results", True)
            },
        }
    if isinstance(obj, functools.partial):
        return {"partial": d(obj.func), "args": d(obj.args), "kwargs": d(obj.keywords)}
    if isinstance(obj, types.ModuleType):
        return {"module": obj.__name__}
    wrapped = getattr(obj, "__wrapped__", None)  # jax.jit, functools.wraps
    if wrapped is not None and callable(obj):
        return d(wrapped)
    if isinstance(obj, types.FunctionType | types.MethodType):
        fn = obj.__func__ if isinstance(obj, types.MethodType) else obj
        closure = [c.cell_contents for c in (fn.__closure__ or ()) if _cell_filled(c)]
        return {
            "fn": f"{fn.__module__}.{fn.__qualname__}",
            "closure": d(closure),
            "defaults": d(fn.__defaults__ or ()),
            "kwdefaults": d(fn.__kwdefaults__ or {}),
        }
    if isinstance(obj, type):
        return {"class": f"{obj.__module__}.{obj.__qualname__}"}
    if callable(obj) and hasattr(obj, "__qualname__"):
        return {"callable": f"{getattr(obj, '__module__', '')}.{obj.__qualname__}"}
    return {
        "type": type(obj).__qualname__,
        "repr": re.sub(r" at 0x[0-9a-f]+", "", repr(obj))[:500],
    }


def _cell_filled(cell) -> bool:
    try:
        cell.cell_contents  # noqa: B018
    except ValueError:  # an empty cell (a name bound after the closure)
        return False
    return True
