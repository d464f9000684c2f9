"""Experiment configs: frozen dataclasses whose fields carry their command-line help.

A config field is declared with ``field(default, help=..., choices=...)``; the command
line (``jaxnet.cli``) and the results fingerprint are generated from the dataclass, so
a knob is written once. ``__post_init__`` of every config calls ``freeze`` (lists and
ranges given in a notebook become tuples) and validates with ``jaxnet.checks``: a bad
value raises ``ValueError`` whose message starts with the field's name.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Mapping, Sequence


def field(default, *, help: str = "", choices: Sequence | Mapping | None = None,  # noqa: A002
          affects_results: bool = True):
    """A config field with its default and its command-line help (and choices).

    ``affects_results=False`` marks a knob that cannot change a number (a chunk size):
    it is left out of the fingerprint that checkpoints are tied to, so a run resumes
    across it.
    """
    if choices is not None and not isinstance(choices, Mapping):
        choices = tuple(choices)  # a registry (a Mapping) stays live: later entries count
    meta = {"help": help, "choices": choices,
            "affects_results": affects_results}
    if isinstance(default, list):
        default = tuple(default)
    return dataclasses.field(default=default, metadata=meta)


def freeze(config) -> None:
    """Turn the sequence-valued fields of a frozen config into tuples, in place."""
    hints = typing.get_type_hints(type(config))
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if typing.get_origin(hints[f.name]) is tuple and not isinstance(value, tuple):
            if isinstance(value, str | bytes) or not isinstance(value, Sequence | range):
                raise ValueError(f"{f.name} must be a sequence; got {value!r}")
            object.__setattr__(config, f.name, tuple(value))


def choice(name: str, value, choices) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(str, choices))}; "
                         f"got {value!r}")


def identity(config) -> dict:
    """The fields of ``config`` that can change its numbers (``field``)."""
    return {f.name: getattr(config, f.name) for f in dataclasses.fields(config)
            if f.metadata.get("affects_results", True)}
