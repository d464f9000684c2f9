"""Experiment configs: frozen dataclasses whose fields carry their command-line help.

A config field is declared with ``field(default, help=..., choices=..., check=...)``
(``seed``, ``chunk`` and ``axis`` are the fields most experiments share);
the command line (``jaxnet.runtime.cli``) and the results fingerprint are generated from the
dataclass, so a knob is written once. ``__post_init__`` of every config calls ``freeze``:
lists and ranges given in a notebook become tuples, and every field is validated by its
``check`` (``count``, ``ints``, ``real``, ``reals``, ``POSITIVE``, ...: ``jaxnet.checks``
underneath) and its ``choices``, so a bad value raises ``ValueError`` whose message
starts with the field's name. What relates several fields stays in ``__post_init__``.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Callable, Mapping, Sequence

from jaxnet import checks

Check = Callable[[str, object], object]  # (field name, value) -> raises ValueError


def _accepts(check: Check, kind: str, **bounds) -> Check:
    """Record what ``check`` accepts on it (``check.accepts``: ``(kind, bounds)``, kind
    ``"int"`` with ``low`` or ``"real"`` with ``checks.real``'s bounds), so tests and
    docs can derive the values it must refuse."""
    check.accepts = (kind, bounds)
    return check


def count(minimum: int = 1) -> Check:
    """An integer >= ``minimum``."""
    return _accepts(
        lambda name, v: checks.positive_int(name, v, minimum=minimum),
        "int",
        low=minimum,
    )


def ints(minimum: int = 1, *, allow_empty: bool = False) -> Check:
    """A tuple of integers >= ``minimum``."""
    return _accepts(
        lambda name, v: checks.int_list(
            name, v, minimum=minimum, allow_empty=allow_empty
        ),
        "int",
        low=minimum,
    )


def real(**bounds) -> Check:
    """A finite real within ``bounds`` (``checks.real``'s ``low``, ``high``, ...)."""
    return _accepts(lambda name, v: checks.real(name, v, **bounds), "real", **bounds)


def reals(**bounds) -> Check:
    """A tuple of finite reals within ``bounds`` (``checks.real_list``)."""
    bounds_ = {k: v for k, v in bounds.items() if k != "allow_empty"}
    return _accepts(
        lambda name, v: checks.real_list(name, v, **bounds), "real", **bounds_
    )


POSITIVE = real(low=0, low_open=True)
FRACTION = real(low=0, high=1)
OPEN_FRACTION = real(low=0, high=1, low_open=True, high_open=True)
SEED = count(0)


def field(
    default,
    *,
    help: str = "",
    choices: Sequence | Mapping | Callable[[], Sequence] | None = None,
    affects_results: bool = True,
    check: Check | None = None,
):
    """A config field with its default, command-line help, choices and check.

    ``choices`` (each element of a tuple field) and ``check`` are validated by
    ``freeze``; an empty default (``""``, ``None``) skips them. A registry (a Mapping)
    or a function returning the choices stays live: what is registered later (in a
    notebook, or by a ``--plugin`` module) counts. ``affects_results=False``
    marks a knob that cannot change a number (a chunk size): it is left out of the
    fingerprint that checkpoints are tied to, so a run resumes across it.
    """
    if choices is not None and not (isinstance(choices, Mapping) or callable(choices)):
        choices = tuple(choices)
    meta = {
        "help": help,
        "choices": choices,
        "affects_results": affects_results,
        "check": check,
    }
    if isinstance(default, list):
        default = tuple(default)
    return dataclasses.field(default=default, metadata=meta)


def seed(default: int = 0):
    """The base PRNG seed field every experiment has."""
    return field(default, help="base PRNG seed", check=SEED)


def chunk(default: int, help: str):
    """A chunk-size field: how many trials one compiled call evaluates (bounds
    memory); it cannot change a number, so it is left out of the fingerprint."""
    return field(default, help=help, affects_results=False, check=count())


def axis(help: str):
    """A grid axis of positive integers whose empty default means the experiment's
    own grid."""
    return field((), help=help, check=ints(allow_empty=True))


def freeze(config) -> None:
    """Turn the sequence-valued fields of a frozen config into tuples, in place, and
    validate every field by its ``choices`` and ``check`` (in field order)."""
    hints = typing.get_type_hints(type(config))
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        is_tuple = typing.get_origin(hints[f.name]) is tuple
        if is_tuple and not isinstance(value, tuple):
            if isinstance(value, str | bytes) or not isinstance(
                value, Sequence | range
            ):
                raise ValueError(f"{f.name} must be a sequence; got {value!r}")
            value = tuple(value)
            object.__setattr__(config, f.name, value)
        if value is None or (value == "" and f.default == ""):
            continue
        if f.metadata.get("choices") is not None:
            for v in value if is_tuple else (value,):
                choice(f.name, v, f.metadata["choices"])
        if f.metadata.get("check") is not None:
            f.metadata["check"](f.name, value)


def live_choices(choices):
    """The current choices of a field (a function's result, or the collection)."""
    return choices() if callable(choices) else choices


def choice(name: str, value, choices) -> None:
    choices = live_choices(choices)
    if value not in choices:
        raise ValueError(
            f"{name} must be one of {', '.join(map(str, choices))}; got {value!r}"
        )


def identity(config) -> dict:
    """The fields of ``config`` that can change its numbers (``field``)."""
    return {
        f.name: getattr(config, f.name)
        for f in dataclasses.fields(config)
        if f.metadata.get("affects_results", True)
    }
