"""The report's Section 6, converged: the λ-sweep of stationary SGD + L2 students.

The command line of ``jaxnet.experiments.condensation_sweep``, generated from its
``Config`` (``--help`` lists the flags), e.g. ``python scripts/condensation_sweep.py --N
40 20 --seeds 100 --out figures/condensation_sweep``.
"""

import _runtime

main = _runtime.entry_point("condensation_sweep")

if __name__ == "__main__":
    raise SystemExit(main())
