"""The report's experiment: SGD with L2 regularization vs the exact minimum-norm student.

The command line of ``jaxnet.experiments.condensation``, generated from its ``Config``
(``--help`` lists the flags), e.g. ``python scripts/condensation.py --N 40 20 --seeds
100 --out figures/condensation``.
"""

import _runtime

main = _runtime.entry_point("condensation")

if __name__ == "__main__":
    raise SystemExit(main())
