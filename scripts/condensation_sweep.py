"""The report's Section 6, converged: the λ-sweep of stationary SGD + L2 students.

The command line of ``jaxnet.experiments.condensation_sweep`` (flags generated from its
``Config``; ``--help`` lists them).

Example:
  python scripts/condensation_sweep.py --N 40 20 --seeds 100 --out figures/condensation_sweep
"""

import sys

import _runtime

_runtime.configure()


def main(argv=None) -> int:
    from jaxnet import cli

    return cli.main("condensation_sweep", argv, prog="condensation_sweep.py")


if __name__ == "__main__":
    sys.exit(main())
