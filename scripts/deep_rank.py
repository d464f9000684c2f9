"""Figure 4 at depth L: P(rank J = n) for ReLU MLPs of depth 2, 3, 4 (any flax model).

The command line of ``jaxnet.experiments.deep_rank``, generated from its ``Config``
(``--help`` lists the flags), e.g.
``python scripts/deep_rank.py --depth 2 3 4 --d0 1 2 --trials 100 --out runs/deep_rank``.
"""

import _runtime

main = _runtime.entry_point("deep_rank")

if __name__ == "__main__":
    raise SystemExit(main())
