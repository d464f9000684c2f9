"""Do sampled activation regions contain a global minimum? The slides' Figures 5 and 6.

The command line of ``jaxnet.experiments.global_minima``, generated from its ``Config``
(``--help`` lists the flags): Figure 5 is ``python scripts/global_minima.py --d0 1 --out
runs/fig5``, Figure 6 ``python scripts/global_minima.py --d0 2 5 --out runs/fig6``.
"""

import _runtime

main = _runtime.entry_point("global_minima")

if __name__ == "__main__":
    raise SystemExit(main())
