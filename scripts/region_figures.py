"""The slides' Figures 1 and 3, drawn from computed regions and vertices.

The command line of ``jaxnet.experiments.region_figures`` (flags generated from its ``Config``;
``--help`` lists them).

Example:
  python scripts/region_figures.py --out figures/fig1_fig3
"""

import sys

import _runtime

_runtime.configure()


def main(argv=None) -> int:
    from jaxnet import cli

    return cli.main("region_figures", argv, prog="region_figures.py")


if __name__ == "__main__":
    sys.exit(main())
