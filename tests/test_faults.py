"""Faults and scale-out, end to end through ``scripts/full_rank.py`` in subprocesses:
a run killed with SIGKILL at any moment resumes to the numbers of an uninterrupted
run; two processes on JAX's distributed runtime give the numbers of one; a corrupted
or truncated results file is detected and recomputed, never read as data."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from jaxnet.runtime import io

SCRIPTS = Path(__file__).parents[1] / "scripts"
GRID = (
    "--convention paper --d0 1 3 --n 4 8 12 --d1 2 6 12 --trials 60 --chunk 4 "
    "--no-progress"
).split()


def _cmd(*args):
    return [sys.executable, str(SCRIPTS / "full_rank.py"), *GRID, *args]


def _run(*args):
    subprocess.run(_cmd(*args), check=True, capture_output=True, timeout=300)


def _arrays(out: Path) -> dict:
    with np.load(out / "trials.npz") as z:
        return {k: z[k] for k in z.files}


def _assert_same_trials(a: Path, b: Path):
    x, y = _arrays(a), _arrays(b)
    assert x.keys() == y.keys()
    for k in x:
        np.testing.assert_array_equal(x[k], y[k], err_msg=k)  # bit for bit, NaN == NaN
    cells = lambda p: json.loads((p / "results.json").read_text())["cells"]  # noqa: E731
    assert cells(a) == cells(b)


@pytest.mark.slow
def test_sigkill_at_any_moment_then_rerun_is_bit_identical(tmp_path):
    ref = tmp_path / "ref"
    _run("--out", str(ref))
    # Kill (1) right after the first checkpoint is written, (2) during start-up, before
    # any block: the run pauses there (the device loop's fault hook) until killed.
    for k, when in enumerate(("checkpoint", "start")):
        out, flag = tmp_path / f"killed{k}", tmp_path / f"paused{k}"
        env = {**os.environ, "JAXNET_FAULT_PAUSE": f"{when}:{flag}"}
        proc = subprocess.Popen(
            _cmd("--out", str(out), "--checkpoint-every", "0"),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        deadline = time.monotonic() + 240
        while not flag.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert flag.exists(), "the run never reached its pause point"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
        assert proc.returncode == -signal.SIGKILL  # killed, not finished
        assert not (out / "results.json").exists()  # nothing half-written
        assert bool(list(out.glob("checkpoint-*.npz"))) == (when == "checkpoint")
        _run("--out", str(out))
        _assert_same_trials(out, ref)
        assert not list(out.glob("checkpoint-*"))


@pytest.mark.slow
def test_two_processes_equal_one_process(tmp_path, processes):
    one, two = tmp_path / "one", tmp_path / "two"
    processes(_cmd("--out", str(two)), timeout=300)
    _run("--out", str(one))
    _assert_same_trials(two, one)
    meta = json.loads((two / "results.json").read_text())["metadata"]
    assert meta["process_count"] == 2 and meta["device_count"] == 2


def test_results_cache_detects_changed_config_truncation_and_corruption(tmp_path):
    io.write_json(tmp_path / "results.json", {"p": [0.25, 0.5]})
    cache = io.ResultsCache(tmp_path, {"trials": 10})
    assert not cache.valid()  # no record yet
    cache.commit()
    assert cache.valid() and cache.load() == {"p": [0.25, 0.5]}
    assert not io.ResultsCache(tmp_path, {"trials": 11}).valid()  # another config
    text = (tmp_path / "results.json").read_bytes()
    (tmp_path / "results.json").write_bytes(text[: len(text) // 2])  # truncated
    assert not cache.valid() and "hash" in cache.note
    (tmp_path / "results.json").write_bytes(text.replace(b"0.25", b"0.75"))  # corrupted
    assert not cache.valid()
    (tmp_path / "results.json").write_bytes(text)
    (tmp_path / "cache.json").write_text("{truncated")
    assert not cache.valid()


def test_results_cache_takes_an_older_spelling_of_the_same_config(tmp_path):
    """A record written before an option existed (``same_as``) stays valid; committing
    rewrites it under today's config; any other config is still refused."""
    io.write_json(tmp_path / "results.json", {"p": [0.25]})
    io.ResultsCache(tmp_path, {"trials": 10}).commit()  # the old record
    today = {"trials": 10, "num_processes": 1}
    assert not io.ResultsCache(tmp_path, today).valid()
    cache = io.ResultsCache(tmp_path, today, same_as=[{"trials": 10}])
    assert cache.valid()
    assert not io.ResultsCache(
        tmp_path, {"trials": 11}, same_as=[{"trials": 12}]
    ).valid()
    cache.commit()
    assert io.ResultsCache(tmp_path, today).valid()
    assert io.read_json(tmp_path / "cache.json")["config"] == today


@pytest.mark.slow
def test_reproduce_reuses_intact_results_and_reruns_corrupted_ones(tmp_path, reproduce):
    first = reproduce()
    assert first.returncode == 0, first.stdout + first.stderr
    assert (tmp_path / "REPORT.md").exists()
    again = reproduce()
    assert "reusing finished results" in again.stdout
    results = tmp_path / "fig1_fig3" / "results.json"
    results.write_bytes(results.read_bytes()[:100])  # truncated
    third = reproduce()
    assert "reusing" not in third.stdout and third.returncode == 0
    json.loads(results.read_text())  # rewritten whole


def test_reproduce_reuses_a_record_written_before_gd_had_its_process_flags(tmp_path):
    """``figures/gradient_descent`` was recorded before the experiment had
    ``--coordinator``/``--num-processes``/``--process-id``: the same run at their
    defaults, so ``reproduce.py`` reuses it (after its audit), but not another config."""
    import reproduce

    name = "gradient_descent"
    (tmp_path / name).mkdir()
    io.write_json(tmp_path / name / "results.json", {"p": 1})
    today = reproduce._cache(name, "quick", tmp_path)
    assert {"num_processes", "coordinator"} <= set(today.config["config"])
    record = {k: v for k, v in today.config["config"].items()}
    for option in reproduce.ADDED_OPTIONS:
        del record[option]
    io.ResultsCache(tmp_path / name, {**today.config, "config": record}).commit()
    assert reproduce._cache(name, "quick", tmp_path).valid()
    record["trials"] += 1
    io.ResultsCache(tmp_path / name, {**today.config, "config": record}).commit()
    assert not reproduce._cache(name, "quick", tmp_path).valid()
