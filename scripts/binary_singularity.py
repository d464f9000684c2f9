"""P(a random n×n 0/1 matrix is singular): the slides' Theorem 3, measured exactly.

The command line of ``jaxnet.experiments.binary_singularity``, generated from its
``Config`` (``--help`` lists the flags), e.g. ``python scripts/binary_singularity.py --n
1 2 3 4 8 16 --trials 20000 --out runs/thm3``.
"""

import _runtime

main = _runtime.entry_point("binary_singularity")

if __name__ == "__main__":
    raise SystemExit(main())
