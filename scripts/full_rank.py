"""P(the Jacobian of a random two-layer ReLU net has full rank n): the slides' Figure 4.

The command line of ``jaxnet.experiments.full_rank`` (flags generated from its
``Config``; ``--help`` lists them). Writes ``OUT/results.json``, ``OUT/trials.npz`` and
``OUT/full_rank_<family>.png``; an interrupted run resumes from its checkpoints.

Example:
  python scripts/full_rank.py --convention peer --d0 1 --trials 100 --out runs/peer_d0
"""

import sys

import _runtime

_runtime.configure()


def main(argv=None) -> int:
    from jaxnet import cli

    return cli.main("full_rank", argv, prog="full_rank.py")


if __name__ == "__main__":
    sys.exit(main())
