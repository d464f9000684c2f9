"""The d0 = 1 threshold law, derived: ``python scripts/threshold_1d.py --help``."""

import _runtime

main = _runtime.entry_point("threshold_1d")

if __name__ == "__main__":
    raise SystemExit(main())
