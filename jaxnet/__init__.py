"""jaxnet: two-layer ReLU networks in JAX — Jacobian rank, activation regions, condensation.

The package, by layer (``docs/architecture.md``)::

    jaxnet.nets, models, data, prng       networks as pure functions; input laws; draws
    jaxnet.rank                           Jacobians and their rank; the rank engines
    jaxnet.regions                        activation regions, their LPs, Figures 5/6
    jaxnet.teacher_student                the report: teachers, training, min-norm
    jaxnet.runtime                        keys, devices, the device loop, host pool, protocol
    jaxnet.experiments                    one module per experiment, and the registry

The most used names are re-exported here (``jaxnet.apply``, ``jaxnet.param_jacobian``,
``jaxnet.matrix_rank``, ...). Subpackages load on first use, so ``import jaxnet`` stays
cheap and has no side effects (no config updates, no plotting backend); the old flat
module paths (``jaxnet.lp``, ``jaxnet.train``, ...) resolve to their new homes with a
``DeprecationWarning`` for one release (``jaxnet._moved``).
"""

import importlib

from jaxnet import _moved, data, models, nets, prng
from jaxnet.nets import (
    Convention,
    activation_pattern,
    apply,
    apply_batch,
    get_convention,
    init_params,
    register_convention,
)
from jaxnet.rank.jacobian import (
    closed_form_jacobian,
    matrix_rank,
    param_jacobian,
    per_example,
)
from jaxnet.types import Array, Params, PRNGKey

_moved.install()

_SUBPACKAGES = ("rank", "regions", "teacher_student", "runtime", "experiments")

__all__ = [
    "Array",
    "Convention",
    "Params",
    "PRNGKey",
    "activation_pattern",
    "apply",
    "apply_batch",
    "closed_form_jacobian",
    "data",
    "get_convention",
    "init_params",
    "matrix_rank",
    "models",
    "nets",
    "param_jacobian",
    "per_example",
    "prng",
    "register_convention",
    *_SUBPACKAGES,
]
__version__ = "0.1.0"


def __getattr__(name: str):
    if name in _SUBPACKAGES:
        return importlib.import_module(f"jaxnet.{name}")
    raise AttributeError(f"module 'jaxnet' has no attribute {name!r}")
