"""Activation regions of parameter space: patterns, non-emptiness, global minima.

- ``jaxnet.regions.patterns``: patterns and their region samplers, non-emptiness by the
  margin LP and by Proposition 6's zonotope criterion, Jacobians inside a region (its
  public names are re-exported here: ``regions.sample_steps``, ...).
- ``lp``: the margin linear programs (HiGHS): row margins, global-minimum feasibility.
- ``cones``: Gaussian measures of the activation cones of one unit (exact tables).
- ``minima``: the Figures 5/6 engine (which regions hold global minima).
- ``descent``: gradient flow of the depth-2 network followed region by region and
  face by face, with a certificate that it stays there (docs/topics/gradient_flow.md).
"""

from jaxnet.regions.patterns import (
    fan,
    is_step,
    jacobian_in_region,
    nonempty_rows_lp,
    relu_function_curve,
    sample_from_init,
    sample_steps,
    sample_uniform,
    step_vectors,
    zonotope_vertex_rows,
)

__all__ = [
    "fan",
    "is_step",
    "jacobian_in_region",
    "nonempty_rows_lp",
    "relu_function_curve",
    "sample_from_init",
    "sample_steps",
    "sample_uniform",
    "step_vectors",
    "zonotope_vertex_rows",
]
