"""Every docstring example in jaxnet runs, and prints what it says it prints.

Library examples are fast; the experiments' notebook calls (one small run each) are
slow-tier. Floats are shown rounded in the examples themselves, so the comparison is
exact text (ELLIPSIS and NORMALIZE_WHITESPACE only)."""

import doctest
import importlib
import pkgutil

import pytest

import jaxnet

FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def _modules_with_examples():
    out = []
    for info in pkgutil.walk_packages(jaxnet.__path__, "jaxnet."):
        if info.name in ("jaxnet.runner", "jaxnet.__main__"):
            continue  # a deprecated shim (warns on import); the command-line entry
        tests = doctest.DocTestFinder().find(importlib.import_module(info.name))
        if any(t.examples for t in tests):
            out.append(info.name)
    return out


MODULES = _modules_with_examples()
PARAMS = [
    pytest.param(m, marks=pytest.mark.slow) if ".experiments." in m else m
    for m in MODULES
]


def test_the_examples_are_found():
    assert "jaxnet.nets" in MODULES and "jaxnet.experiments.full_rank" in MODULES


@pytest.mark.parametrize("name", PARAMS)
def test_docstring_examples(name):
    import matplotlib

    matplotlib.use("Agg")
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    for test in doctest.DocTestFinder().find(importlib.import_module(name)):
        runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.attempted > 0 and result.failed == 0, name
