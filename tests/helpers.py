"""Shared test helpers: tolerances keyed by dtype."""

import jax
import numpy as np

# Exact identities in float64 hold to ~1e-12 relative; float32 to ~1e-5.
TOL = {np.dtype("float64"): 1e-12, np.dtype("float32"): 1e-5}


def tree_allclose(a, b, *, rtol=None, atol=None):
    """assert_allclose over matching pytrees, tolerance from the dtype by default."""
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        x, y = np.asarray(x), np.asarray(y)
        tol = TOL.get(x.dtype, 1e-12)
        np.testing.assert_allclose(
            x, y, rtol=tol if rtol is None else rtol, atol=tol if atol is None else atol
        )
