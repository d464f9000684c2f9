"""Bad input, property-based (hypothesis): every script's flags and the public
functions, fed out-of-range sizes, NaN/inf, wrong shapes and dtypes, end in a clear
error naming the argument (exit status 2 for a script), never a traceback from inside
JAX and never a silent number."""

import importlib
import math
import sys
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).parents[1] / "scripts"))
from jaxnet import jacobian, nets  # noqa: E402

NON_FINITE = st.sampled_from([math.nan, math.inf, -math.inf])
NON_POSITIVE_INT = st.integers(min_value=-10**6, max_value=0)
NEGATIVE_INT = st.integers(min_value=-10**6, max_value=-1)

# script -> flag -> strategy of bad values (each flag must reject every one of them)
BAD = {
    "full_rank": {
        "--n": NON_POSITIVE_INT, "--d1": NON_POSITIVE_INT, "--d0": NON_POSITIVE_INT,
        "--trials": NON_POSITIVE_INT, "--chunk": NON_POSITIVE_INT,
        "--max-buckets": NON_POSITIVE_INT, "--seed": NEGATIVE_INT,
        "--ratio": st.one_of(st.floats(max_value=0), NON_FINITE),
        "--rtol": st.one_of(st.floats(max_value=0), st.floats(min_value=1), NON_FINITE),
        "--beta": st.one_of(st.floats(max_value=1.41), NON_FINITE),
        "--checkpoint-every": st.one_of(st.floats(max_value=-1e-9), NON_FINITE),
        "--num-processes": NON_POSITIVE_INT,
    },
    "global_minima": {
        "--d0": NON_POSITIVE_INT, "--n": NON_POSITIVE_INT, "--d1": NON_POSITIVE_INT,
        "--regions": NON_POSITIVE_INT, "--teacher-width": NON_POSITIVE_INT,
        "--check-reference": NEGATIVE_INT, "--workers": NEGATIVE_INT,
        "--seed": NEGATIVE_INT,
        "--tol": st.one_of(st.floats(max_value=0), st.floats(min_value=1), NON_FINITE),
    },
    "binary_singularity": {
        "--n": NON_POSITIVE_INT, "--trials": NON_POSITIVE_INT, "--chunk": NON_POSITIVE_INT,
        "--seed": NEGATIVE_INT,
    },
    "region_rank": {
        "--n": NON_POSITIVE_INT, "--d1": NON_POSITIVE_INT, "--d0": NON_POSITIVE_INT,
        "--trials": NON_POSITIVE_INT, "--seed": NEGATIVE_INT,
        "--eps": st.one_of(st.floats(max_value=0), st.floats(min_value=1), NON_FINITE),
        "--c1": st.one_of(st.floats(max_value=0), NON_FINITE),
    },
    "region_figures": {"--x": NON_FINITE},
    "condensation": {
        "--seeds": NON_POSITIVE_INT, "--width": NON_POSITIVE_INT,
        "--steps": NON_POSITIVE_INT, "--stages": NON_POSITIVE_INT,
        "--N": st.integers(min_value=-10, max_value=2), "--seed": NEGATIVE_INT,
        "--lr": st.one_of(st.floats(max_value=0), NON_FINITE),
        "--lam": st.one_of(st.floats(max_value=0), NON_FINITE),
        "--angle-tol": st.one_of(st.floats(max_value=0), NON_FINITE),
    },
    "minnorm_phase": {
        "--m0": NON_POSITIVE_INT, "--N": NON_POSITIVE_INT, "--d": NON_POSITIVE_INT,
        "--instances": NON_POSITIVE_INT, "--workers": NEGATIVE_INT,
        "--tol": st.one_of(st.floats(max_value=0), st.floats(min_value=1), NON_FINITE),
    },
}
CASES = [(script, flag) for script, flags in BAD.items() for flag in flags]


@pytest.mark.parametrize(("script", "flag"), CASES, ids=[f"{s}{f}" for s, f in CASES])
@settings(max_examples=8, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_script_rejects_bad_flag_values(script, flag, data, tmp_path, capsys):
    value = data.draw(BAD[script][flag])
    out = tmp_path / "out"
    text = repr(value) if isinstance(value, float) else str(value)
    argv = [f"{flag}={text}", "--out", str(out)]  # '=': a negative value is no flag
    if script == "full_rank" and flag == "--num-processes":
        argv += ["--coordinator", "localhost:1"]
    module = importlib.import_module(script)
    try:
        rc = module.main(argv)
    except SystemExit as stop:  # argparse's own errors
        rc = stop.code
    err = capsys.readouterr().err
    assert rc == 2, (argv, err)
    last = err.strip().splitlines()[-1]  # argparse prints its usage line first
    assert "error" in last and flag in last, err
    assert "Traceback" not in err
    assert not (out / "results.json").exists()


def _net(n=5, d=3, m=4):
    rng = np.random.default_rng(0)
    params = {"w": jnp.asarray(rng.standard_normal((m, d))),
              "b": jnp.asarray(rng.standard_normal(m)),
              "v": jnp.asarray(rng.standard_normal(m))}
    return params, jnp.asarray(rng.standard_normal((n, d)))


FUNCTIONS = [
    lambda p, x: jacobian.param_jacobian(p, x, ("b", "w")),
    lambda p, x: jacobian.closed_form_jacobian(p, x, ("b", "w")),
    lambda p, x: jacobian.gram(p, x, ("b", "w")),
    lambda p, x: nets.apply_batch(p, x),
]


@pytest.mark.parametrize("fn", FUNCTIONS, ids=["jacrev", "closed_form", "gram", "apply"])
@settings(max_examples=20, deadline=None)
@given(which=st.sampled_from(["xs_nan", "xs_inf", "w_nan", "xs_shape", "xs_1d",
                              "v_shape", "b_shape", "int_xs", "no_v", "empty_xs"]),
       row=st.integers(0, 4))
def test_network_functions_reject_bad_input(fn, which, row):
    params, xs = _net()
    if which == "xs_nan":
        xs = xs.at[row, 0].set(jnp.nan)
    elif which == "xs_inf":
        xs = xs.at[row, 1].set(jnp.inf)
    elif which == "w_nan":
        params["w"] = params["w"].at[row % 4, 0].set(jnp.nan)
    elif which == "xs_shape":
        xs = jnp.ones((5, 2))
    elif which == "xs_1d":
        xs = jnp.ones(3)
    elif which == "v_shape":
        params["v"] = jnp.ones(3)
    elif which == "b_shape":
        params["b"] = jnp.ones((4, 1))
    elif which == "int_xs":
        xs = jnp.ones((5, 3), jnp.int32)
    elif which == "no_v":
        del params["v"]
    elif which == "empty_xs":
        xs = jnp.ones((0, 3))
    names = {"xs_nan": "xs", "xs_inf": "xs", "w_nan": "params['w']", "xs_shape": "xs",
             "xs_1d": "xs", "v_shape": "params", "b_shape": "params['b']", "int_xs": "xs",
             "no_v": "params", "empty_xs": "xs"}
    with pytest.raises(ValueError, match=r"^" + __import__("re").escape(names[which])):
        fn(params, xs)


@settings(max_examples=20, deadline=None)
@given(shape=st.sampled_from([(0, 3), (3,), (2, 2, 2)]),
       rtol=st.one_of(st.floats(max_value=-1e-300), st.floats(min_value=1), NON_FINITE))
def test_matrix_rank_rejects_bad_input(shape, rtol):
    with pytest.raises(ValueError, match="^jac"):
        jacobian.matrix_rank(jnp.ones(shape))
    with pytest.raises(ValueError, match="^rtol"):
        jacobian.matrix_rank(jnp.eye(3), rtol=rtol)
    with pytest.raises(ValueError, match="^jac"):
        jacobian.matrix_rank(jnp.eye(3).at[0, 1].set(jnp.nan))
