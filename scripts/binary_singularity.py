"""P(a random n×n 0/1 matrix is singular): the slides' Theorem 3, measured exactly.

The command line of ``jaxnet.experiments.binary_singularity`` (flags generated from its ``Config``;
``--help`` lists them).

Example:
  python scripts/binary_singularity.py --n 1 2 3 4 8 16 --trials 20000 --out runs/thm3
"""

import sys

import _runtime

_runtime.configure()


def main(argv=None) -> int:
    from jaxnet import cli

    return cli.main("binary_singularity", argv, prog="binary_singularity.py")


if __name__ == "__main__":
    sys.exit(main())
