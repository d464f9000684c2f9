"""The benchmark scripts keep working (their numbers are measured by running them, not
here): each parses its flags, and the fastest settings of one run end to end."""

import subprocess
import sys
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).parents[1] / "scripts"
BENCHES = sorted(p.name for p in SCRIPTS.glob("bench_*.py"))


@pytest.mark.parametrize("script", BENCHES)
def test_bench_help(script):
    got = subprocess.run(
        [sys.executable, str(SCRIPTS / script), "--help"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert got.returncode == 0 and "--out" in got.stdout, got.stderr


@pytest.mark.slow
def test_bench_threshold_runs(tmp_path):
    argv = ["--float-trials", "2", "--grid-trials", "2", "--law-trials", "2"]
    got = subprocess.run(
        [sys.executable, str(SCRIPTS / "bench_threshold.py"), *argv, "--skip-d0"]
        + ["--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert got.returncode == 0, got.stdout + got.stderr
    assert (tmp_path / "bench.json").exists()
