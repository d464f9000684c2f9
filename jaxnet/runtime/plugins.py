"""Plugins: user modules that register conventions, input laws, teachers, models or
experiments before a command line is built.

A registration made in a notebook lives in that process only. For a command line (a
new process), put the registration in an importable module and name it::

    scripts/full_rank.py --plugin my_laws --convention laplace ...
    JAXNET_PLUGINS=my_laws,my_teachers scripts/reproduce.py --quick

``load`` imports them once and records them in ``$JAXNET_PLUGINS``, so the host pool's
spawned workers import them too; ``results.json`` names them (``provenance.plugins``)
and the audit loads them before it recomputes anything.
"""

from __future__ import annotations

import argparse
import importlib
import os

ENV = "JAXNET_PLUGINS"
_LOADED: list[str] = []


def _names(text: str) -> list[str]:
    return [n.strip() for n in text.split(",") if n.strip()]


def load(names=()) -> tuple[str, ...]:
    """Import the modules ``names`` and those listed in ``$JAXNET_PLUGINS`` (in that
    order, each once); returns every plugin loaded so far.

    Raises:
      ValueError: naming the module that cannot be imported, and why.
    """
    for name in [*_names(os.environ.get(ENV, "")), *names]:
        if name in _LOADED:
            continue
        try:
            importlib.import_module(name)
        except Exception as err:  # the user's module: report any failure in one line
            first = str(err).splitlines()[0] if str(err) else ""
            raise ValueError(
                f"plugin: cannot import {name!r}: {type(err).__name__}: {first}"
            ) from None
        _LOADED.append(name)
    if _LOADED:
        os.environ[ENV] = ",".join(_LOADED)
    return tuple(_LOADED)


def loaded() -> tuple[str, ...]:
    """The plugin modules this process has loaded."""
    return tuple(_LOADED)


def add_argument(parser: argparse.ArgumentParser) -> None:
    """The ``--plugin MODULE`` option (repeatable) of every command line."""
    parser.add_argument(
        "--plugin",
        action="append",
        default=[],
        metavar="MODULE",
        help="import MODULE first (it may register conventions, laws, teachers, "
        f"models or experiments); also ${ENV}=a,b",
    )


def preparse(argv, prog: str | None = None) -> tuple[str, ...]:
    """Load the plugins a command line names before its parser is built (so their
    registrations are among its choices). A plugin that cannot be imported prints one
    ``PROG: error:`` line and raises ``SystemExit(2)``."""
    pre = argparse.ArgumentParser(prog=prog, add_help=False)
    add_argument(pre)
    ns, _ = pre.parse_known_args(argv)
    try:
        return load(ns.plugin)
    except ValueError as err:
        pre.exit(2, f"{pre.prog}: error: --{err}\n")
