"""Deprecated: the runner is ``jaxnet.runtime`` (one module per job). This module
re-exports its names for one release and warns on import."""

import warnings

from jaxnet.runtime import *  # noqa: F403
from jaxnet.runtime import __all__  # noqa: F401

warnings.warn(
    "jaxnet.runner is deprecated; import jaxnet.runtime instead",
    DeprecationWarning,
    stacklevel=2,
)
