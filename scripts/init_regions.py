"""Where a Gaussian initialization lands: regions weighted by their Gaussian measure.

The command line of ``jaxnet.experiments.init_regions``, generated from its ``Config``
(``--help`` lists the flags), e.g.
``python scripts/init_regions.py --d0 1 2 --trials 100 --out runs/init_regions``.
"""

import _runtime

main = _runtime.entry_point("init_regions")

if __name__ == "__main__":
    raise SystemExit(main())
