"""Old flat module paths, kept for one release: ``import jaxnet.lp`` still works.

Each old name is an alias of its new module (the same module object, so a monkeypatch
through either name reaches the code), imported on first use with a
``DeprecationWarning`` naming the new path. Removed in the next release.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import warnings

MOVED = {
    "jaxnet.jacobian": "jaxnet.rank.jacobian",
    "jaxnet.theory": "jaxnet.rank.theory",
    "jaxnet.lp": "jaxnet.regions.lp",
    "jaxnet.cones": "jaxnet.regions.cones",
    "jaxnet.region_minima": "jaxnet.regions.minima",
    "jaxnet.train": "jaxnet.teacher_student.train",
    "jaxnet.condensation_measures": "jaxnet.teacher_student.measures",
    "jaxnet.minnorm": "jaxnet.teacher_student.minnorm",
    "jaxnet.teachers": "jaxnet.teacher_student.teachers",
    "jaxnet.cli": "jaxnet.runtime.cli",
    "jaxnet.config": "jaxnet.runtime.config",
    "jaxnet.io": "jaxnet.runtime.io",
}


class _Alias(importlib.abc.Loader):
    """Loads an old name as its new module. The import system returns whatever
    ``sys.modules`` holds after ``exec_module``, so the real module is never touched
    (its ``__spec__`` and ``__name__`` stay its own)."""

    def create_module(self, spec):
        return None  # a placeholder module, replaced in exec_module

    def exec_module(self, module):
        name = module.__name__
        warnings.warn(
            f"{name} moved to {MOVED[name]}; the old path is removed in the next release",
            DeprecationWarning,
            stacklevel=2,
        )
        sys.modules[name] = importlib.import_module(MOVED[name])


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name not in MOVED:
            return None
        return importlib.util.spec_from_loader(name, _Alias())


def install() -> None:
    """Resolve the old paths (idempotent)."""
    if not any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.append(_Finder())
