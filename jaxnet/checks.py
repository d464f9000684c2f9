"""Argument checks for jaxnet's public functions: one home for "is this input usable".

Each check raises ``ValueError`` with a one-line message that names the argument and
says what was expected, so a bad input never surfaces as an error from deep inside
JAX, NumPy or a solver, and never as a silent wrong number. Traced values (inside
``jit``) are left to run time: only concrete arrays are inspected for NaN/inf.
"""

from __future__ import annotations

import numbers

import jax
import jax.numpy as jnp
import numpy as np


def finite(name: str, x) -> None:
    """``x`` holds no NaN or inf (skipped for traced values)."""
    if isinstance(x, jax.Array):
        try:
            ok = bool(jnp.all(jnp.isfinite(x)))
        except jax.errors.ConcretizationTypeError:
            return
    else:  # NumPy data stays on the host (no device dispatch in the solvers' loops)
        ok = bool(np.all(np.isfinite(np.asarray(x))))
    if not ok:
        raise ValueError(f"{name} must be finite; it holds NaN or inf")


def array(
    name: str,
    x,
    *,
    ndim: int | None = None,
    shape: tuple | None = None,
    kind: str = "real",
    allow_empty: bool = False,
) -> np.ndarray:
    """``x`` as a NumPy array, checked.

    Args:
      ndim: the required number of dimensions.
      shape: the required shape; ``None`` entries are free.
      kind: ``'real'`` (bool, integer or float; finite), ``'float'`` (floating,
        finite), ``'int'`` (integer) or ``'binary'`` (entries 0/1, any numeric dtype).
      allow_empty: whether a zero-size array is acceptable.
    """
    try:
        a = np.asarray(x)
    except Exception as err:  # ragged lists and the like
        raise ValueError(
            f"{name} must be an array; got {type(x).__name__} ({err})"
        ) from None
    if ndim is not None and a.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimension(s); got shape {a.shape}")
    if shape is not None and (
        a.ndim != len(shape)
        or any(s is not None and s != t for s, t in zip(shape, a.shape, strict=True))
    ):
        want = "(" + ", ".join("*" if s is None else str(s) for s in shape) + ")"
        raise ValueError(f"{name} must have shape {want}; got {a.shape}")
    if not allow_empty and a.size == 0:
        raise ValueError(f"{name} must not be empty; got shape {a.shape}")
    numeric = a.dtype == bool or np.issubdtype(a.dtype, np.number)
    if not numeric or np.issubdtype(a.dtype, np.complexfloating):
        raise ValueError(f"{name} must be a real numeric array; got dtype {a.dtype}")
    if kind == "float" and not np.issubdtype(a.dtype, np.floating):
        raise ValueError(f"{name} must be floating point; got dtype {a.dtype}")
    if kind == "int" and not (np.issubdtype(a.dtype, np.integer) or a.dtype == bool):
        raise ValueError(f"{name} must be an integer array; got dtype {a.dtype}")
    if kind in ("real", "float", "binary"):
        finite(name, a)
    if kind == "binary" and not np.isin(a, (0, 1)).all():
        raise ValueError(f"{name} must hold only 0 and 1")
    return a


def positive_int(name: str, v, *, minimum: int = 1) -> int:
    """``v`` is an integer ≥ ``minimum`` (bools rejected)."""
    if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}; got {v!r}")
    return int(v)


def real(
    name: str,
    v,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """``v`` is a finite real number in the stated (open or closed) range."""
    if isinstance(v, bool) or not isinstance(v, numbers.Real) or not np.isfinite(v):
        raise ValueError(f"{name} must be a finite real number; got {v!r}")
    too_low = low is not None and (v <= low if low_open else v < low)
    too_high = high is not None and (v >= high if high_open else v > high)
    if too_low or too_high:
        lo = "-inf" if low is None else f"{low:g}"
        hi = "inf" if high is None else f"{high:g}"
        rng = (
            ("(" if low_open or low is None else "[")
            + f"{lo}, {hi}"
            + (")" if high_open or high is None else "]")
        )
        raise ValueError(f"{name} must be in {rng}; got {v!r}")
    return float(v)


def int_list(
    name: str, values, *, minimum: int = 1, allow_empty: bool = False
) -> tuple:
    """``values`` is a (non-empty) sequence of integers ≥ ``minimum``."""
    values = tuple(values)
    if not values and not allow_empty:
        raise ValueError(
            f"{name} must be a non-empty list of integers >= {minimum}; "
            "got an empty list"
        )
    for v in values:
        if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < minimum:
            raise ValueError(
                f"{name} must be a list of integers >= {minimum}; got {list(values)}"
            )
    return values


def real_list(
    name: str,
    values,
    *,
    low: float | None = None,
    low_open: bool = False,
    allow_empty: bool = False,
) -> tuple:
    """``values`` is a (non-empty) sequence of finite reals in the stated range."""
    values = tuple(values)
    if not values and not allow_empty:
        raise ValueError(
            f"{name} must be a non-empty list of numbers; got an empty list"
        )
    for v in values:
        try:
            real(name, v, low=low, low_open=low_open)
        except ValueError:
            bound = "" if low is None else f" {'>' if low_open else '>='} {low:g}"
            raise ValueError(
                f"{name} must be a list of finite numbers{bound}; got {list(values)}"
            ) from None
    return values
