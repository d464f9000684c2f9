"""Generated command lines: documented flags kept, argument errors exit 2 with one line
and write nothing, any other error keeps its traceback (exit 1)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from jaxnet.experiments import MODULES, REGISTRY, module
from jaxnet.runtime import cli

SCRIPTS = Path(__file__).parents[1] / "scripts"

# The flags that people's scripts call (README); they must stay.
DOCUMENTED = {
    "full_rank": [
        "--convention",
        "--d0",
        "--ratio",
        "--n",
        "--d1",
        "--trials",
        "--seed",
        "--chunk",
        "--rank-dtype",
        "--rtol",
        "--beta",
        "--max-buckets",
        "--exact-check",
        "--out",
        "--no-progress",
        "--checkpoint-every",
        "--coordinator",
        "--num-processes",
        "--process-id",
    ],
    "global_minima": [
        "--d0",
        "--n",
        "--d1",
        "--regions",
        "--targets",
        "--teacher-width",
        "--seed",
        "--tol",
        "--check-reference",
        "--workers",
        "--out",
        "--no-progress",
    ],
    "binary_singularity": [
        "--n",
        "--trials",
        "--seed",
        "--chunk",
        "--out",
        "--no-progress",
    ],
    "region_rank": [
        "--theorem",
        "--d0",
        "--n",
        "--d1",
        "--trials",
        "--eps",
        "--c1",
        "--seed",
        "--out",
    ],
    "region_figures": ["--x", "--out"],
    "condensation": [
        "--N",
        "--seeds",
        "--width",
        "--teacher",
        "--steps",
        "--batch",
        "--lr",
        "--lam",
        "--lam-final",
        "--stages",
        "--log-every",
        "--angle-tol",
        "--exact",
        "--no-exact",
        "--seed",
        "--out",
    ],
    "condensation_sweep": [
        "--N",
        "--lam",
        "--seeds",
        "--width",
        "--teacher",
        "--lr",
        "--warmup",
        "--grad-rtol",
        "--angle-rtol",
        "--check-every",
        "--max-steps",
        "--angle-tol",
        "--exact",
        "--no-exact",
        "--check-seeds",
        "--gd-steps",
        "--sgd-steps",
        "--chunk",
        "--seed",
        "--out",
        "--no-progress",
        "--stall-timeout",
    ],
    "threshold": [
        "--d0",
        "--ratio",
        "--n",
        "--trials",
        "--cap-factor",
        "--min-cap",
        "--widths",
        "--check-float",
        "--bootstrap",
        "--seed",
        "--chunk",
        "--out",
        "--no-progress",
        "--checkpoint-every",
        "--stall-timeout",
    ],
    "deep_rank": [
        "--model",
        "--depth",
        "--d0",
        "--ratio",
        "--n",
        "--width",
        "--trials",
        "--seed",
        "--chunk",
        "--beta",
        "--check-fig4",
        "--no-check-fig4",
        "--out",
        "--no-progress",
    ],
    "gradient_descent": [
        "--depth",
        "--d0",
        "--n",
        "--d1",
        "--trials",
        "--steps",
        "--lr",
        "--momentum",
        "--loss-tol",
        "--grad-tol",
        "--gm-regions",
        "--seed",
        "--chunk",
        "--workers",
        "--out",
        "--no-progress",
    ],
    "init_regions": [
        "--d0",
        "--n",
        "--d1",
        "--trials",
        "--tol",
        "--check-mc",
        "--mc-samples",
        "--seed",
        "--workers",
        "--out",
        "--no-progress",
    ],
    "minnorm_phase": [
        "--teachers",
        "--m0",
        "--d",
        "--N",
        "--instances",
        "--tol",
        "--seed",
        "--workers",
        "--out",
        "--no-progress",
    ],
}


@pytest.mark.parametrize("name", MODULES)
def test_documented_flags_are_generated(name):
    parser = cli.build_parser(module(name))
    flags = {s for action in parser._actions for s in action.option_strings}
    documented = set(DOCUMENTED.get(name, ()))  # a new experiment: nothing promised yet
    assert documented <= flags, documented - flags


@pytest.mark.parametrize("name", MODULES)
def test_defaults_make_a_valid_config(name, tmp_path):
    config, options = cli.parse(module(name), ["--out", str(tmp_path)])
    assert options.out == str(tmp_path)
    assert config == module(name).Config()


def test_registry_configs_are_valid():
    for name, entry in REGISTRY.items():
        for scale in ("quick", "full"):
            cfg = entry.config(scale)
            assert cfg is None or isinstance(cfg, module(entry.module).Config), name


def test_config_error_exits_2_with_one_line(tmp_path, capsys):
    out = tmp_path / "out"
    rc = cli.main(
        "condensation",
        ["--steps", "1000", "--log-every", "300", "--out", str(out)],
        prog="condensation.py",
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1
    assert err[0].startswith("condensation.py: error: --steps must be a multiple")
    assert not out.exists()


def test_library_error_is_not_a_usage_error(tmp_path, monkeypatch):
    """A ValueError raised while computing is a bug or a failure: it propagates."""
    from jaxnet.experiments import region_figures

    def broken(cfg, ctx):
        raise ValueError("a library bug")

    monkeypatch.setattr(region_figures, "compute", broken)
    with pytest.raises(ValueError, match="a library bug"):
        cli.main("region_figures", ["--out", str(tmp_path / "o")])
    assert not (tmp_path / "o" / "results.json").exists()


def test_internal_error_keeps_traceback_and_exits_1(tmp_path):
    code = (
        f"import sys; sys.path.insert(0, {str(SCRIPTS)!r})\n"
        "import region_figures\n"
        "from jaxnet.experiments import region_figures as exp\n"
        "def broken(cfg, ctx): raise RuntimeError('deliberate')\n"
        "exp.compute = broken\n"
        f"sys.exit(region_figures.main(['--out', {str(tmp_path / 'o')!r}]))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 1
    assert "Traceback" in proc.stderr and "RuntimeError: deliberate" in proc.stderr
    assert not (tmp_path / "o" / "results.json").exists()


@pytest.mark.slow
def test_script_entry_point_runs(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(SCRIPTS / "region_figures.py"), "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    res = json.loads((tmp_path / "results.json").read_text())
    assert res["experiment"] == "region_figures" and res["config"]["out"] == str(
        tmp_path
    )
    assert {"versions", "backend", "device_count", "x64", "wall_time_s"} <= set(
        res["metadata"]
    )
    assert (tmp_path / "fig1_region_fan.png").stat().st_size > 0
