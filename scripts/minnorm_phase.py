"""Exact recovery of the teacher by the minimum-norm interpolant, against N.

The command line of ``jaxnet.experiments.minnorm_phase``, generated from its ``Config``
(``--help`` lists the flags), e.g. ``python scripts/minnorm_phase.py --teachers report
mixed random --out figures/phase``.
"""

import _runtime

main = _runtime.entry_point("minnorm_phase")

if __name__ == "__main__":
    raise SystemExit(main())
