"""Gradient descent from many initializations at once: Lemma 1 in motion.

The command line of ``jaxnet.experiments.gradient_descent``, generated from its ``Config``
(``--help`` lists the flags), e.g.
``python scripts/gradient_descent.py --d0 1 2 5 --trials 100 --out runs/gradient_descent``.
"""

import _runtime

main = _runtime.entry_point("gradient_descent")

if __name__ == "__main__":
    raise SystemExit(main())
