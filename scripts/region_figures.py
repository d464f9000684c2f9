"""The slides' Figures 1 and 3, drawn from computed regions and vertices.

The command line of ``jaxnet.experiments.region_figures``, generated from its ``Config``
(``--help`` lists the flags), e.g. ``python scripts/region_figures.py --out
figures/fig1_fig3``.
"""

import _runtime

main = _runtime.entry_point("region_figures")

if __name__ == "__main__":
    raise SystemExit(main())
