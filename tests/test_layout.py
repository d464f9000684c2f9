"""The package's shape: experiments never import each other, the library never imports
an experiment, and no two real modules share a name."""

import ast
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).parents[1] / "jaxnet"


def _imports(path: Path) -> set[str]:
    """Every module ``path`` imports (absolute names; ``from a import b`` gives both
    ``a`` and ``a.b``)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
            out |= {f"{node.module}.{alias.name}" for alias in node.names}
    return out


def test_no_experiment_imports_another_experiment():
    experiments = {p.stem for p in (ROOT / "experiments").glob("*.py")} - {"__init__"}
    for path in (ROOT / "experiments").glob("*.py"):
        if path.stem == "__init__":
            continue
        others = {f"jaxnet.experiments.{e}" for e in experiments - {path.stem}}
        assert not (_imports(path) & others), f"{path.name} imports another experiment"


def test_the_library_never_imports_an_experiment():
    allowed = {
        "audit.py",
        "cli.py",
        "__main__.py",
    }  # entry layers: run experiments by name
    for path in ROOT.rglob("*.py"):
        rel = path.relative_to(ROOT)
        if rel.parts[0] == "experiments" or rel.name in allowed:
            continue
        hits = {m for m in _imports(path) if m.startswith("jaxnet.experiments")}
        assert not hits, f"{rel} imports {sorted(hits)}"


def test_no_two_modules_share_a_name_outside_deprecated_shims():
    shims = {"runner"}  # deprecated re-exports, removed next release
    names = Counter(
        p.stem
        for p in ROOT.rglob("*.py")
        if p.stem != "__init__" and p.stem not in shims
    )
    assert not [n for n, k in names.items() if k > 1]
