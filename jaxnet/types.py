"""Type aliases shared across jaxnet (documentation only; nothing is checked at run time)."""

from typing import Any

import jax

Array = jax.Array
# Network parameters: {'w': (m, d), 'b': (m,), 'v': (m,)} (see jaxnet.nets).
Params = dict[str, Array]
PRNGKey = Any
