"""Depth-L trials shared by the depth-L experiments (``deep_rank``,
``gradient_descent``): the Figure-4 trial's data, and singular values of wide
Jacobians."""

from __future__ import annotations

import jax.numpy as jnp

from jaxnet.rank import fig4


def trial_data(key, n, d0, sizes):
    """The Figure-4 trial's data ``xs: (N, D0)`` (zero beyond n rows, d0 columns) and
    its row mask."""
    _, xs, row_mask = fig4.sample_trial(
        key, "paper", n, d0, 1, sizes=(*sizes, 1), dtype=jnp.float64
    )
    return xs, row_mask


def singular_values(j):
    """Singular values of ``j: (N, P)``, P ≥ N, by Householder QR of jᵀ then the SVD
    of the N × N factor (as LAPACK's gesdd does for wide matrices, 10× faster here)."""
    if j.shape[1] < j.shape[0]:
        return jnp.linalg.svd(j, compute_uv=False)
    return jnp.linalg.svd(jnp.linalg.qr(j.T, mode="r"), compute_uv=False)
