"""The rank mathematics and its engines.

- ``jaxnet.rank.jacobian``: Jacobians, Gram matrices, rank rules, certificates, exact ranks.
- ``min_width``: the d0 = 1 rank formula and minimal full-rank widths (exact).
- ``trials``: the Figure-4 trial (grids, seeds, draws, the device unit).
- ``exact``: exact, tolerance-free ranks of those trials (Lemma 4, modulo primes).
- ``fig4``: the Figure-4 engine (a grid of cells, every trial certified or decided by
  the SVD rule, in few compiled programs).
- ``wstar``: each trial's exact minimal full-rank width w* (the threshold engine).
- ``deep``: depth-L data and singular values shared by the depth-L experiments.
"""
