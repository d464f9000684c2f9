"""Bad input, property-based (hypothesis): every script's flags and the public
functions, fed out-of-range sizes, NaN/inf, wrong shapes and dtypes, end in a clear
error naming the argument (exit status 2 for a script), never a traceback from inside
JAX and never a silent number."""

import dataclasses
import math
import typing

import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jaxnet import nets
from jaxnet.experiments import MODULES, module
from jaxnet.rank import jacobian
from jaxnet.runtime import config

NON_FINITE = st.sampled_from([math.nan, math.inf, -math.inf])
NON_POSITIVE_INT = st.integers(min_value=-(10**6), max_value=0)
NEGATIVE_INT = st.integers(min_value=-(10**6), max_value=-1)

INT_BOUND = 10**6


def _refused(kind: str, bounds: dict):
    """A strategy of the values a check with ``accepts == (kind, bounds)`` refuses."""
    if kind == "int":
        return st.integers(min_value=-INT_BOUND, max_value=bounds["low"] - 1)
    parts = [NON_FINITE]
    finite = {"allow_nan": False, "allow_infinity": False}
    if bounds.get("low") is not None:
        parts.append(
            st.floats(
                min_value=-INT_BOUND,
                max_value=bounds["low"],
                exclude_max=not bounds.get("low_open", False),
                **finite,
            )
        )
    if bounds.get("high") is not None:
        parts.append(
            st.floats(
                min_value=bounds["high"],
                max_value=INT_BOUND,
                exclude_min=not bounds.get("high_open", False),
                **finite,
            )
        )
    return st.one_of(parts)


# The runner options a command line may expose (``Spec.options``), by their checks in
# ``runtime.Options``.
OPTION_REFUSED = {
    "checkpoint_every": _refused("real", {"low": 0}),
    "stall_timeout": _refused("real", {"low": 0}),
    "workers": _refused("int", {"low": 0}),
    "num_processes": _refused("int", {"low": 1}),
}


def _refusals(name: str) -> dict:
    """Flag -> strategy of refused values, for every checked or choice field of the
    experiment's Config and every option its command line exposes: derived from the
    registry, so a new experiment is covered without a line here."""
    mod = module(name)
    hints = typing.get_type_hints(mod.Config)
    out = {}
    for f in dataclasses.fields(mod.Config):
        flag = "--" + f.name.replace("_", "-")
        hint = hints[f.name]
        item = typing.get_args(hint)[0] if typing.get_origin(hint) is tuple else hint
        accepts = getattr(f.metadata.get("check"), "accepts", None)
        choices = f.metadata.get("choices")
        if accepts is not None:
            out[flag] = _refused(*accepts)
        elif choices is not None and item is int:
            allowed = set(config.live_choices(choices))
            ints = st.integers(min_value=-INT_BOUND, max_value=INT_BOUND)
            out[flag] = ints.filter(lambda v, allowed=allowed: v not in allowed)
        elif choices is not None and item is str:
            out[flag] = st.just("no-such-choice")
    for option in mod.SPEC.options:
        if option in OPTION_REFUSED:
            out["--" + option.replace("_", "-")] = OPTION_REFUSED[option]
    return out


CASES = [(name, flag) for name in MODULES for flag in _refusals(name)]


def test_every_experiment_has_refusal_cases():
    """The generated cases reach every experiment and its integer and real fields."""
    assert {name for name, _ in CASES} == set(MODULES)
    assert all(
        any(flag == "--seed" for n, flag in CASES if n == name) for name in MODULES
    )


@pytest.mark.parametrize(("name", "flag"), CASES, ids=[f"{n}{f}" for n, f in CASES])
@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_command_line_refuses_bad_values(name, flag, data, tmp_path, capsys):
    """Every refused value of every flag: exit status 2, one line naming the flag
    (argparse's usage line may precede it), no traceback, nothing written."""
    from jaxnet.runtime import cli

    value = data.draw(_refusals(name)[flag])
    out = tmp_path / "out"
    text = repr(value) if isinstance(value, float) else str(value)
    argv = [f"{flag}={text}", "--out", str(out)]  # '=': a negative value is no flag
    if flag == "--num-processes":
        argv += ["--coordinator", "localhost:1"]
    try:
        rc = cli.main(name, argv, prog=f"{name}.py")
    except SystemExit as stop:  # argparse's own errors
        rc = stop.code
    err = capsys.readouterr().err
    assert rc == 2, (argv, err)
    last = err.strip().splitlines()[-1]
    assert "error" in last and flag in last, err
    assert "Traceback" not in err
    assert not (out / "results.json").exists()


def _net(n=5, d=3, m=4):
    rng = np.random.default_rng(0)
    params = {
        "w": jnp.asarray(rng.standard_normal((m, d))),
        "b": jnp.asarray(rng.standard_normal(m)),
        "v": jnp.asarray(rng.standard_normal(m)),
    }
    return params, jnp.asarray(rng.standard_normal((n, d)))


FUNCTIONS = [
    lambda p, x: jacobian.param_jacobian(p, x, ("b", "w")),
    lambda p, x: jacobian.closed_form_jacobian(p, x, ("b", "w")),
    lambda p, x: jacobian.gram(p, x, ("b", "w")),
    lambda p, x: nets.apply_batch(p, x),
]


@pytest.mark.parametrize(
    "fn", FUNCTIONS, ids=["jacrev", "closed_form", "gram", "apply"]
)
@settings(max_examples=20, deadline=None)
@given(
    which=st.sampled_from(
        "xs_nan xs_inf w_nan xs_shape xs_1d v_shape b_shape int_xs no_v empty_xs".split()
    ),
    row=st.integers(0, 4),
)
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
    names = {
        "xs_nan": "xs",
        "xs_inf": "xs",
        "w_nan": "params['w']",
        "xs_shape": "xs",
        "xs_1d": "xs",
        "v_shape": "params",
        "b_shape": "params['b']",
        "int_xs": "xs",
        "no_v": "params",
        "empty_xs": "xs",
    }
    with pytest.raises(ValueError, match=r"^" + __import__("re").escape(names[which])):
        fn(params, xs)


@settings(max_examples=20, deadline=None)
@given(
    shape=st.sampled_from([(0, 3), (3,), (2, 2, 2)]),
    rtol=st.one_of(st.floats(max_value=-1e-300), st.floats(min_value=1), NON_FINITE),
)
def test_matrix_rank_rejects_bad_input(shape, rtol):
    with pytest.raises(ValueError, match="^jac"):
        jacobian.matrix_rank(jnp.ones(shape))
    with pytest.raises(ValueError, match="^rtol"):
        jacobian.matrix_rank(jnp.eye(3), rtol=rtol)
    with pytest.raises(ValueError, match="^jac"):
        jacobian.matrix_rank(jnp.eye(3).at[0, 1].set(jnp.nan))


# ---------------------------------------------------------------------------
# The other public functions: each case is a function, good arguments, and per
# argument the kinds of damage it must refuse with a ValueError naming it.


def _lp_args(n=5, d=3, d1=4):
    rng = np.random.default_rng(0)
    return dict(
        xt=rng.standard_normal((n, d)),
        pattern=rng.integers(0, 2, (d1, n)),
        v=rng.standard_normal(d1),
        y=rng.standard_normal(n),
    )


def _cases():
    from jaxnet import data, regions, stats
    from jaxnet.rank import theory
    from jaxnet.regions import lp
    from jaxnet.teacher_student import measures as condensation
    from jaxnet.teacher_student import minnorm, train

    lp_args = _lp_args()
    one_d = dict(
        x_sorted=np.linspace(-1, 1, 5),
        pattern=lp_args["pattern"],
        v=lp_args["v"],
        y=lp_args["y"],
    )
    primary = ["nan", "inf", "ndim", "empty", "text"]
    follower = ["nan", "inf", "ndim", "length", "text"]
    params = {"w": np.ones((4, 2)), "v": np.ones(4)}
    cfg = train.TrainConfig(width=4, steps=10, log_every=5)
    key = __import__("jax").random.key(0)
    return {
        "row_margin": (
            lp.row_margin,
            dict(xt=lp_args["xt"], a=lp_args["pattern"][0]),
            {"xt": primary, "a": follower + ["nonbinary"]},
        ),
        "region_nonempty": (
            lp.region_nonempty,
            dict(xt=lp_args["xt"], pattern=lp_args["pattern"]),
            {"xt": primary, "pattern": follower + ["nonbinary"]},
        ),
        "global_min_margin": (
            lp.global_min_margin,
            lp_args,
            {
                "xt": primary,
                "pattern": follower + ["nonbinary"],
                "v": follower,
                "y": follower,
            },
        ),
        "global_min_1d": (
            lp.global_min_1d,
            one_d,
            {
                "x_sorted": primary + ["unsorted"],
                "pattern": follower,
                "v": follower,
                "y": follower,
            },
        ),
        "min_norm_interpolant": (
            minnorm.min_norm_interpolant,
            dict(x=np.ones((5, 2)), y=np.ones(5)),
            {"x": primary, "y": follower},
        ),
        "jacobian_in_region": (
            regions.jacobian_in_region,
            dict(pattern=lp_args["pattern"], xt=lp_args["xt"], v=lp_args["v"]),
            {
                "xt": primary,
                "pattern": follower + ["nonbinary"],
                "v": ["ndim", "length", "text"],
            },
        ),
        "theorem2_width": (
            theory.theorem2_width,
            dict(n=10, d0=2, eps=0.1, c1=8.0),
            {
                "n": ["zero", "nan"],
                "d0": ["zero", "half", "bool"],
                "eps": ["zero", "one", "nan"],
                "c1": ["zero", "inf"],
            },
        ),
        "theorem9_width": (
            theory.theorem9_width,
            dict(n=10, eps=0.1),
            {"n": ["zero", "nan", "text"], "eps": ["zero", "one", "inf"]},
        ),
        "prop5_count": (
            theory.prop5_count,
            dict(n=5, d=2, d1=3),
            {"n": ["zero", "half"], "d": ["zero", "bool"], "d1": ["zero"]},
        ),
        "lemma8_count": (
            theory.lemma8_count,
            dict(n=5, d1=3),
            {"n": ["zero", "half"], "d1": ["zero", "nan"]},
        ),
        "wilson_interval": (
            stats.wilson_interval,
            dict(successes=3, trials=10, z=1.96),
            {
                "successes": ["nan", "negative", "text"],
                "trials": ["zero", "inf"],
                "z": ["zero", "nan"],
            },
        ),
        "normal_quantile": (
            stats.normal_quantile,
            dict(q=0.975),
            {"q": ["zero", "one", "nan"]},
        ),
        "condensation": (
            condensation.condensation,
            dict(params=params, b_star=np.ones((3, 2)), angle_tol=0.05, mass_tol=1e-3),
            {
                "b_star": ["nan", "ndim", "text"],
                "angle_tol": ["negative", "nan"],
                "mass_tol": ["negative"],
            },
        ),
        "train": (
            train.train,
            dict(
                key=key,
                x=np.ones((6, 2)),
                y=np.ones(6),
                lr=0.1,
                lam=1e-3,
                lam_final=1e-3,
                cfg=cfg,
            ),
            {
                "x": ["nan", "ndim"],
                "y": ["inf", "length"],
                "cfg": ["zero_width", "bad_log_every"],
            },
        ),
        "gaussian": (
            data.gaussian,
            dict(key=key, n=4, d=2),
            {"n": ["zero", "half"], "d": ["negative", "bool"]},
        ),
        "uniform_box": (
            data.uniform_box,
            dict(key=key, n=4, d=2, low=0.0, high=1.0),
            {"n": ["zero"], "low": ["nan"], "high": ["inf"]},
        ),
        "sample_uniform": (
            regions.sample_uniform,
            dict(rng=np.random.default_rng(0), d1=3, n=4),
            {"d1": ["zero", "half"], "n": ["negative"]},
        ),
    }


def _damage(value, how, pos):
    if how in ("nan", "inf"):
        bad = math.nan if how == "nan" else math.inf
        if np.ndim(value) == 0:
            return bad
        a = np.array(value, np.float64)
        a.flat[pos % a.size] = bad
        return a
    a = np.asarray(value)
    return {
        "ndim": lambda: a[..., None],
        "empty": lambda: np.zeros((0, *a.shape[1:])),
        "length": lambda: np.delete(a, 0, axis=-1),
        "text": lambda: np.full(a.shape, "x"),
        "nonbinary": lambda: np.where(a == 1, 2, a),
        "unsorted": lambda: a[::-1],
        "zero": lambda: 0,
        "one": lambda: 1,
        "half": lambda: 2.5,
        "bool": lambda: True,
        "negative": lambda: -1,
        "zero_width": lambda: value._replace(width=0),
        "bad_log_every": lambda: value._replace(log_every=3),
    }[how]()


CASES_FN = sorted(_cases())


@pytest.mark.parametrize("name", CASES_FN)
@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_public_functions_reject_bad_input(name, data):
    fn, good, damage = _cases()[name]
    arg = data.draw(st.sampled_from(sorted(damage)), label="argument")
    how = data.draw(st.sampled_from(damage[arg]), label="damage")
    pos = data.draw(st.integers(0, 10**6), label="position")
    kwargs = {**good, arg: _damage(good[arg], how, pos)}
    with pytest.raises(ValueError) as err:
        fn(**kwargs)
    message = str(err.value)
    assert "\n" not in message.strip() and message.startswith(arg), (arg, how, message)
