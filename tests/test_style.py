"""The code's style is checked, not hoped for: ``ruff check`` and ``ruff format
--check`` over jaxnet/, scripts/, tests/ and examples/ (rules in pyproject.toml)."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
PATHS = ["jaxnet", "scripts", "tests", "examples"]


def _ruff() -> list[str]:
    exe = shutil.which("ruff", path=str(Path(sys.executable).parent))
    if exe is None:
        pytest.fail("ruff is not installed: pip install -e '.[test]'")
    return [exe]


def test_ruff_check_is_clean():
    proc = subprocess.run(
        _ruff() + ["check", *PATHS],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout[-4000:]


def test_ruff_format_is_clean():
    proc = subprocess.run(
        _ruff() + ["format", "--check", *PATHS],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout[-4000:]
