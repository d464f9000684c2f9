"""Command lines generated from the experiments' configs: one ``main`` for all.

``main(experiment, argv)`` builds an ``argparse`` parser from the experiment's
``Config`` dataclass (one flag per field: ``--field-name``; ``tuple`` fields take
lists, ``bool`` fields ``--x/--no-x``; help and choices from ``jaxnet.runtime.config.field``)
and from the runner options it exposes (``experiment.SPEC.options``: ``--out``,
``--progress``, ``--checkpoint-every``, ``--stall-timeout``, ``--workers``,
``--coordinator``/``--num-processes``/``--process-id``), then runs it.

Errors: a bad argument (argparse's own checks, the config's validation, an unwritable
``--out``) ends with one line ``PROG: error: --flag ...`` and exit status 2, before
anything is written. Every other exception is a bug or a failure of the run, not a
usage error: it propagates with its traceback (exit status 1).

argparse (the standard library) rather than tyro: the flags, defaults and one-line
errors that people's scripts rely on are kept exactly, with no extra dependency; the
generation from the dataclass is this module's ~100 lines.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import types
import typing
from pathlib import Path

from jaxnet import runtime
from jaxnet.runtime import config, io, plugins

_OPTION_HELP = {
    "out": "output directory (results.json, arrays, figures, checkpoints)",
    "progress": "show progress bars on stderr",
    "checkpoint_every": "seconds between checkpoint writes",
    "stall_timeout": "abort (and checkpoint) when no block finishes for this many "
    "seconds; rerun to resume (0: never)",
    "workers": "worker processes for solver work (0: one per CPU)",
    "coordinator": "multi-process run: HOST:PORT of process 0 (jax.distributed)",
    "num_processes": "multi-process run: number of processes",
    "process_id": "multi-process run: this process's index",
}


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _add(parser, name: str, hint, default, help_text: str, choices):
    kwargs = {"default": default, "help": help_text or None}
    origin = typing.get_origin(hint)
    if hint is bool:
        parser.add_argument(
            _flag(name), action=argparse.BooleanOptionalAction, **kwargs
        )
        return
    if origin is tuple:
        (item, *_) = typing.get_args(hint)
        kwargs.update(type=item, nargs="+")
    elif origin in (typing.Union, types.UnionType):  # `int | None`: the int
        kwargs.update(
            type=next(a for a in typing.get_args(hint) if a is not type(None))
        )
    else:
        kwargs["type"] = hint
    if choices is not None:
        kwargs["choices"] = list(config.live_choices(choices))
    if help_text and default not in (None, (), ""):
        kwargs["help"] += (
            f" (default: {' '.join(map(str, default)) if isinstance(default, tuple) else default})"
        )
    parser.add_argument(_flag(name), **kwargs)


def build_parser(experiment, prog: str | None = None) -> argparse.ArgumentParser:
    """The experiment's parser: its config's fields, then its runner options."""
    doc = (experiment.__doc__ or "").strip().split("\n\n")[0]
    parser = argparse.ArgumentParser(prog=prog, description=doc)
    hints = typing.get_type_hints(experiment.Config)
    for f in dataclasses.fields(experiment.Config):
        _add(
            parser,
            f.name,
            hints[f.name],
            f.default,
            f.metadata.get("help", ""),
            f.metadata.get("choices"),
        )
    opt_hints = typing.get_type_hints(runtime.Options)
    defaults = runtime.Options(out=f"runs/{experiment.SPEC.name}")
    for name in experiment.SPEC.options:
        _add(
            parser,
            name,
            opt_hints[name],
            getattr(defaults, name),
            _OPTION_HELP[name],
            None,
        )
    return parser


def _usage_message(err: ValueError, names) -> str:
    """A validation message whose first word is a field name, with that name as its
    flag."""
    text = str(err).splitlines()[0] if str(err) else type(err).__name__
    first, _, rest = text.partition(" ")
    return f"{_flag(first)} {rest}" if first in names else text


def parse(experiment, argv=None, prog: str | None = None):
    """``(config, options)`` from a command line; bad arguments raise ``SystemExit(2)``
    after printing one ``PROG: error:`` line."""
    plugins.preparse(argv, prog)
    parser = build_parser(experiment, prog)
    plugins.add_argument(parser)
    ns = vars(parser.parse_args(argv))
    names = {f.name for f in dataclasses.fields(experiment.Config)} | set(
        experiment.SPEC.options
    )
    try:
        config = experiment.Config(
            **{f.name: ns[f.name] for f in dataclasses.fields(experiment.Config)}
        )
        options = runtime.Options(**{k: ns[k] for k in experiment.SPEC.options})
        if options.out is not None:
            io.check_writable_dir(options.out)
    except ValueError as err:
        parser.exit(2, f"{parser.prog}: error: {_usage_message(err, names)}\n")
    return config, options


def main(experiment, argv=None, prog: str | None = None) -> int:
    """Parse ``argv``, run the experiment, print its summary; 0 on success.

    ``experiment`` is a module of ``jaxnet.experiments`` or its registry name.
    """
    if isinstance(experiment, str):
        from jaxnet import experiments

        experiment = experiments.module(experiment)
    prog = prog or (Path(sys.argv[0]).name if argv is None else None)
    try:
        config, options = parse(experiment, argv, prog)
    except SystemExit as stop:
        return int(stop.code or 0)
    import matplotlib

    matplotlib.use("Agg")
    result = runtime.run(experiment, config, options)
    if runtime.is_main_process():
        print(experiment.report(result.results))
        if options.out is not None:
            print(f"wrote {Path(options.out) / 'results.json'}")
    return 0
