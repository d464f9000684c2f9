"""Exact recovery of the teacher by the minimum-norm interpolant, against N.

The command line of ``jaxnet.experiments.minnorm_phase`` (flags generated from its ``Config``;
``--help`` lists them).

Example:
  python scripts/minnorm_phase.py --teachers report mixed random --out figures/phase
"""

import sys

import _runtime

_runtime.configure()


def main(argv=None) -> int:
    from jaxnet import cli

    return cli.main("minnorm_phase", argv, prog="minnorm_phase.py")


if __name__ == "__main__":
    sys.exit(main())
