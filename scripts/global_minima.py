"""Do sampled activation regions contain a global minimum? The slides' Figures 5 and 6.

The command line of ``jaxnet.experiments.global_minima`` (flags generated from its
``Config``; ``--help`` lists them). Writes ``OUT/results.json``, ``OUT/instances.npz``
and ``OUT/global_minima.png``; an interrupted run resumes from its checkpoint.

Examples:
  python scripts/global_minima.py --d0 1 --out runs/fig5          # Figure 5 grid
  python scripts/global_minima.py --d0 2 5 --out runs/fig6        # Figure 6 grid
"""

import sys

import _runtime

_runtime.configure()


def main(argv=None) -> int:
    from jaxnet import cli

    return cli.main("global_minima", argv, prog="global_minima.py")


if __name__ == "__main__":
    sys.exit(main())
