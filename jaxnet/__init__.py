"""jaxnet: two-layer ReLU networks in JAX — Jacobian rank, activation regions, condensation.

Importing jaxnet has no side effects (no config updates, no plotting backend).
"""

from jaxnet.types import Array, Params, PRNGKey

__all__ = ["Array", "Params", "PRNGKey"]
__version__ = "0.1.0"
