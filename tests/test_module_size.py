"""No module is over about 500 lines unless its docstring says why (a "Length" note)."""

from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
LIMIT = 520  # "about 500"
FILES = sorted(
    p
    for d in ("jaxnet", "scripts", "tests")
    for p in (ROOT / d).rglob("*.py")
    if "__pycache__" not in p.parts
)


@pytest.mark.parametrize(
    "path", FILES, ids=[p.relative_to(ROOT).as_posix() for p in FILES]
)
def test_long_modules_say_why(path):
    text = path.read_text()
    if text.count("\n") <= LIMIT:
        return
    doc = text.split('"""')[1] if text.lstrip().startswith('"""') else ""
    assert "Length (" in doc, f"{path.name}: {text.count(chr(10))} lines and no reason"
