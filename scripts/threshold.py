"""The full-rank threshold: each trial's minimal full-rank width w*, exactly, and its law.

The command line of ``jaxnet.experiments.threshold``, generated from its ``Config``
(``--help`` lists the flags): the d0 = 1 law is ``python scripts/threshold.py --d0 1
--trials 1000 --out runs/threshold``.
"""

import _runtime

main = _runtime.entry_point("threshold")

if __name__ == "__main__":
    raise SystemExit(main())
