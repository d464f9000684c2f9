"""The extension points keep their promises: a throwaway input law, convention,
teacher family and experiment, defined in a plugin module outside jaxnet, each run
end to end from a command line in a new process, and from ``reproduce.py`` with its
cache and audit (docs/extending.md)."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]

PLUGIN = textwrap.dedent(
    '''
    """A throwaway plugin: an input law, a convention, a teacher and an experiment."""

    import dataclasses
    import sys

    import jax.numpy as jnp
    import numpy as np

    from jaxnet import data, experiments, nets, prng, runtime
    from jaxnet.runtime import config
    from jaxnet.teacher_student import teachers


    def laplace_law(words, dtype, coords):
        """iid Laplace(0, 1) coordinates, by the inverse CDF."""
        c = prng.uniform(words, dtype) - 0.5
        return -jnp.sign(c) * jnp.log1p(-2 * jnp.abs(c)) * coords[None, :]


    data.LAWS["laplace"] = laplace_law
    nets.register_convention(
        nets.Convention("laplace", "laplace", nets.gaussian_init, ("b", "w"), "float64")
    )


    def square(rng, m0, d):
        """m0 directions 90 degrees apart, all a* = +1."""
        ang = np.pi / 2 * np.arange(m0)
        return {"w": np.stack([np.cos(ang), np.sin(ang)], 1), "v": np.ones(m0)}


    teachers.register_teacher("square", square, dims=(2,))

    SPEC = runtime.Spec(
        "throwaway",
        "a test's experiment: P(n Laplace points are all positive) = 2^-n",
        arrays="throwaway.npz",
        options=("out", "progress"),
    )


    @dataclasses.dataclass(frozen=True)
    class Config:
        n: tuple[int, ...] = config.field((1, 2), help="points", check=config.ints())
        trials: int = config.field(400, help="trials per cell", check=config.count())
        seed: int = config.field(0, help="base PRNG seed", check=config.SEED)

        def __post_init__(self):
            config.freeze(self)


    def trial(key, cell):
        # cell values are traced: draw at the largest size and mask
        x = laplace_law(prng.stream_bits(key, {"x": (4, 1)})["x"], jnp.float64,
                        jnp.ones(1))
        return {"all_positive": jnp.all((x[:, 0] > 0) | (jnp.arange(4) >= cell["n"]))}


    def compute(cfg, ctx):
        seeds = np.array([runtime.cell_seed(SPEC.name, n) for n in cfg.n], np.uint32)
        out = ctx.device(trial, {"n": np.array(cfg.n, np.int32)}, seeds, cfg.trials,
                         chunk=64)
        p = out["all_positive"].mean(axis=1)
        body = {"cells": [{"n": n, "p": float(q)} for n, q in zip(cfg.n, p)]}
        return body, {"all_positive": out["all_positive"]}


    def plot(results, arrays):
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots()
        ax.plot([c["n"] for c in results["cells"]], [c["p"] for c in results["cells"]])
        return {"throwaway.png": fig}


    def report(results):
        return "\\n".join(f"n={c['n']}: p={c['p']:.3f}" for c in results["cells"])


    experiments.register(
        experiments.Entry(__name__, {}, {"quick": {"trials": 200}}), name="throwaway"
    )
    '''
)


@pytest.fixture
def plugin(tmp_path, monkeypatch):
    """The plugin's file, and a subprocess environment that can import it. Whatever
    it registers in this process is removed again afterwards."""
    from jaxnet import data, experiments, nets
    from jaxnet.runtime import plugins
    from jaxnet.teacher_student import teachers

    registries = (
        data.LAWS,
        nets.CONVENTIONS,
        teachers.TEACHERS,
        experiments.REGISTRY,
        experiments._EXTERNAL,
    )
    saved = [dict(r) for r in registries]
    monkeypatch.setattr(plugins, "_LOADED", [])
    monkeypatch.setenv("JAXNET_PLUGINS", "")
    (tmp_path / "jx_throwaway.py").write_text(PLUGIN)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)])}
    yield env
    for registry, before in zip(registries, saved, strict=True):
        registry.clear()
        registry.update(before)
    sys.modules.pop("jx_throwaway", None)


def _run(env, *argv):
    return subprocess.run(
        [sys.executable, *argv], env=env, capture_output=True, text=True, cwd=ROOT
    )


@pytest.mark.slow
def test_plugin_experiment_runs_from_the_command_line_reproduce_and_audit(
    plugin, tmp_path
):
    out = tmp_path / "cli"
    got = _run(
        plugin,
        "-m",
        "jaxnet",
        "throwaway",
        "--plugin",
        "jx_throwaway",
        "--trials",
        "2000",
        "--out",
        str(out),
    )
    assert got.returncode == 0, got.stderr
    res = json.loads((out / "results.json").read_text())
    assert res["provenance"]["plugins"] == ["jx_throwaway"]
    for cell in res["cells"]:  # P = 2^-n; 2000 trials: 5 binomial sds < 0.06
        assert abs(cell["p"] - 2.0 ** -cell["n"]) < 0.06, cell
    figs = tmp_path / "figs"
    script = str(ROOT / "scripts" / "reproduce.py")
    args = ["--plugin", "jx_throwaway", "--out", str(figs)]
    got = _run(plugin, script, "--quick", "--only", "throwaway", *args)
    assert got.returncode == 0, got.stderr
    assert (figs / "throwaway" / "throwaway.png").stat().st_size > 0
    got = _run(plugin, script, "--audit", "--quick", "--only", "throwaway", *args)
    assert got.returncode == 0, got.stdout + got.stderr
    assert "throwaway" in got.stdout and "OK" in got.stdout


@pytest.mark.slow
def test_plugin_convention_and_law_from_the_command_line(plugin, tmp_path):
    out = tmp_path / "fr"
    argv = [
        "--convention",
        "laplace",
        "--d0",
        "1",
        "--n",
        "4",
        "--d1",
        "1",
        "8",
        "--trials",
        "40",
        "--out",
        str(out),
    ]
    got = _run(plugin, str(ROOT / "scripts" / "full_rank.py"), *argv)
    assert got.returncode == 2 and "invalid choice: 'laplace'" in got.stderr
    got = _run(
        plugin,
        str(ROOT / "scripts" / "full_rank.py"),
        "--plugin",
        "jx_throwaway",
        *argv,
    )
    assert got.returncode == 0, got.stderr
    res = json.loads((out / "results.json").read_text())
    assert res["config"]["convention"] == "laplace"
    p = [c["p"] for c in res["cells"]]
    assert p[0] == 0.0 and p[1] > 0.2  # d1 = 1: P = 2 < n = 4 columns; d1 = 8: often


def test_plugin_teacher_joins_the_choices_it_qualifies_for(
    plugin, monkeypatch, tmp_path
):
    monkeypatch.syspath_prepend(str(tmp_path))
    from jaxnet.runtime import cli, plugins
    from jaxnet.teacher_student import teachers

    assert plugins.load(["jx_throwaway"]) == ("jx_throwaway",)
    assert os.environ["JAXNET_PLUGINS"] == "jx_throwaway"  # spawned workers load it
    assert "square" in teachers.names(d=2, random=False)
    assert "square" not in teachers.names(d=3)
    from jaxnet.experiments import condensation, minnorm_phase

    parser = cli.build_parser(condensation)
    (action,) = [a for a in parser._actions if "--teacher" in a.option_strings]
    assert "square" in action.choices and "random" not in action.choices
    with pytest.raises(ValueError, match="teachers: family 'square' does not exist"):
        minnorm_phase.Config(teachers=("square",), d=(3,))
    res = minnorm_phase.recovery(
        teachers=("square",), m0=(2,), N=(12,), instances=2, workers=1
    )
    (cell,) = res.results["cells"]
    assert cell["solved"] == 2 and cell["eq12_bound"] is not None


def test_a_plugin_that_fails_to_import_is_one_line_exit_2(plugin, tmp_path):
    got = _run(
        plugin,
        str(ROOT / "scripts" / "full_rank.py"),
        "--plugin",
        "no_such_module_here",
        "--out",
        str(tmp_path / "x"),
    )
    assert got.returncode == 2
    (line,) = got.stderr.strip().splitlines()
    assert "--plugin: cannot import 'no_such_module_here'" in line
    assert not (tmp_path / "x").exists()
