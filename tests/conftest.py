"""Test rules: float64, strict rank promotion, 4 fake CPU devices, Agg backend."""

import sys
import zlib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1] / "scripts"))
import _runtime  # noqa: E402  (the scripts' process settings, before JAX starts)

_runtime.configure()

import jax
import matplotlib
import pytest

jax.config.update("jax_enable_x64", True)
jax.config.update("jax_numpy_rank_promotion", "raise")
jax.config.update("jax_num_cpu_devices", 4)  # before any JAX computation
matplotlib.use("Agg")


@pytest.fixture
def key(request):
    return jax.random.key(zlib.crc32(request.node.nodeid.encode()))


@pytest.fixture
def reproduce(tmp_path):
    """``reproduce(*flags)``: ``scripts/reproduce.py --quick --only fig1_fig3 --out
    tmp_path`` plus ``flags`` in a new process (a ``CompletedProcess``, text)."""
    import subprocess

    base = [sys.executable, str(Path(__file__).parents[1] / "scripts" / "reproduce.py")]
    base += ["--quick", "--only", "fig1_fig3", "--out", str(tmp_path)]

    def run(*flags):
        return subprocess.run(
            [*base, *flags], capture_output=True, text=True, timeout=300
        )

    return run


@pytest.fixture
def processes():
    """``processes(cmd, n=2)``: ``cmd`` run as ``n`` processes of one run on JAX's
    distributed runtime (``--coordinator localhost:PORT --num-processes n
    --process-id i``); asserts that every one exits with status 0."""
    import socket
    import subprocess

    def run(cmd, n=2, timeout=600):
        with socket.socket() as s:
            s.bind(("localhost", 0))
            port = s.getsockname()[1]
        multi = ["--coordinator", f"localhost:{port}", "--num-processes", str(n)]
        procs = [
            subprocess.Popen(
                [*cmd, *multi, "--process-id", str(i)],
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            for i in range(n)
        ]
        for p in procs:
            log, _ = p.communicate(timeout=timeout)
            assert p.returncode == 0, log[-2000:]

    return run
