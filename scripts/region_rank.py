"""Fraction of activation regions with a full-rank Jacobian: Theorems 2 and 9 of the slides.

The command line of ``jaxnet.experiments.region_rank``, generated from its ``Config``
(``--help`` lists the flags), e.g. ``python scripts/region_rank.py --theorem 2 --out
runs/thm2``.
"""

import _runtime

main = _runtime.entry_point("region_rank")

if __name__ == "__main__":
    raise SystemExit(main())
