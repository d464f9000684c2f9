"""P(the Jacobian of a random two-layer ReLU net has full rank n): the slides' Figure 4.

The command line of ``jaxnet.experiments.full_rank``, generated from its ``Config``
(``--help`` lists the flags), e.g. ``python scripts/full_rank.py --convention peer --d0
1 --trials 100 --out runs/peer_d0``.
"""

import _runtime

main = _runtime.entry_point("full_rank")

if __name__ == "__main__":
    raise SystemExit(main())
