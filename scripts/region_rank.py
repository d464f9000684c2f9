"""Fraction of activation regions with a full-rank Jacobian: Theorems 2 and 9 of the slides.

The command line of ``jaxnet.experiments.region_rank`` (flags generated from its ``Config``;
``--help`` lists them).

Example:
  python scripts/region_rank.py --theorem 2 --out runs/thm2
"""

import sys

import _runtime

_runtime.configure()


def main(argv=None) -> int:
    from jaxnet import cli

    return cli.main("region_rank", argv, prog="region_rank.py")


if __name__ == "__main__":
    sys.exit(main())
