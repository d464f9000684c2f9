"""``python -m jaxnet EXPERIMENT [flags]``: any experiment's command line, generated from
its ``Config`` (``jaxnet.runtime.cli``); ``EXPERIMENT`` is a module of
``jaxnet.experiments``, or one a ``--plugin`` module registered."""

import sys

from jaxnet.runtime import cli, plugins


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0].startswith("-"):
        from jaxnet import experiments

        print(
            "usage: python -m jaxnet EXPERIMENT [--plugin MODULE] [flags]\n"
            f"experiments: {', '.join(experiments.MODULES)}",
            file=sys.stderr,
        )
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    plugins.preparse(argv[1:], "jaxnet")
    from jaxnet import experiments

    try:
        module = experiments.module(argv[0])
    except ValueError as err:
        print(f"jaxnet: error: {err}", file=sys.stderr)
        return 2
    return cli.main(module, argv[1:], prog=f"jaxnet {argv[0]}")


if __name__ == "__main__":
    raise SystemExit(main())
