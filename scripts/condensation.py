"""The report's experiment: SGD with L2 regularization vs the exact minimum-norm student.

The command line of ``jaxnet.experiments.condensation`` (flags generated from its ``Config``;
``--help`` lists them).

Example:
  python scripts/condensation.py --N 40 20 --seeds 100 --out figures/condensation
"""

import sys

import _runtime

_runtime.configure()


def main(argv=None) -> int:
    from jaxnet import cli

    return cli.main("condensation", argv, prog="condensation.py")


if __name__ == "__main__":
    sys.exit(main())
