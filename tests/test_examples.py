"""The quickstart notebook (its paired .py) runs end to end at tiny scale, the way a
notebook kernel runs it (no script file behind ``__main__``)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).parents[1] / "examples"


@pytest.mark.slow
def test_quickstart_runs_at_tiny_scale(tmp_path):
    code = (EXAMPLES / "quickstart.py").read_text()
    env = {**os.environ, "JAXNET_QUICKSTART_SCALE": "tiny", "MPLBACKEND": "Agg"}
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=tmp_path,
        env=env,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    assert "median w* =" in proc.stdout and "exact interpolant condensed" in proc.stdout


def test_notebook_and_script_hold_the_same_code():
    nb = json.loads((EXAMPLES / "quickstart.ipynb").read_text())
    cells = [
        "".join(c["source"]).strip() for c in nb["cells"] if c["cell_type"] == "code"
    ]
    script = (EXAMPLES / "quickstart.py").read_text()
    for cell in cells:
        assert cell in script
    assert len(cells) == script.count("# %%\n")
