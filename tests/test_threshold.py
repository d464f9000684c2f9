"""The exact minimal full-rank width w*: the d0 = 1 rank formula against exact
elimination, w* against brute force and against the float engine on the same keys."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnet import runtime
from jaxnet.experiments import full_rank
from jaxnet.experiments import threshold as exp
from jaxnet.rank import jacobian, min_width


def _pattern(cuts, classes, n):
    """Activation vectors of units given by (cut, class) on n sorted points."""
    idx = np.arange(n)
    return np.array(
        [
            (idx >= c) if k == 1 else (idx < c)
            for c, k in zip(cuts, classes, strict=True)
        ],
        int,
    ).reshape(-1, n)


def _integer_jacobian(act, x):
    """[a_i, a_i * x] for every unit, as an integer matrix (n, 2m)."""
    return (
        np.concatenate([np.stack([a, a * x], axis=1) for a in act], axis=1)
        if len(act)
        else np.zeros((len(x), 0), int)
    )


def test_rank_formula_equals_exact_elimination():
    # 3000 random unit sets on n <= 9 distinct integer points (any order of the values:
    # the formula needs only distinct points), cuts including the all/never-active ends.
    rng = np.random.default_rng(0)
    mismatches, full = 0, 0
    for _ in range(3000):
        n = int(rng.integers(1, 10))
        m = int(rng.integers(0, 9))
        cuts = rng.integers(0, n + 1, m)
        classes = rng.integers(0, 2, m)
        x = rng.choice(np.arange(-60, 60), n, replace=False)
        exact = (
            jacobian.integer_rank(_integer_jacobian(_pattern(cuts, classes, n), x).T)
            if m
            else 0
        )
        mismatches += min_width.rank_1d(cuts, classes, n) != exact
        full += exact == n
    assert mismatches == 0
    assert 300 < full < 2700  # both outcomes well represented


@pytest.mark.slow
def test_min_width_1d_equals_brute_force():
    rng = np.random.default_rng(1)
    fn = jax.jit(min_width.min_width_1d, static_argnums=())
    checked = censored = 0
    for _ in range(300):
        n, d = int(rng.integers(1, 12)), int(rng.integers(1, 30))
        w, b, v = rng.standard_normal((3, d))
        x = rng.standard_normal(n)
        got, ok = fn(
            jnp.asarray(w),
            jnp.asarray(b),
            jnp.asarray(v),
            jnp.asarray(np.r_[x, np.zeros(4)]),
            n,
            d,
        )  # padded data
        assert bool(ok)
        order = np.argsort(x)
        act = (np.outer(w, x[order]) + b[:, None]) > 0  # (d, n) in sorted order
        cuts = np.where(w > 0, n - act.sum(1), act.sum(1))
        classes = (w > 0).astype(int)
        ranks = [min_width.rank_1d(cuts[:k], classes[:k], n) for k in range(1, d + 1)]
        assert all(
            a <= b for a, b in zip(ranks, ranks[1:], strict=False)
        )  # monotone in the width
        want = next((k for k, r in enumerate(ranks, 1) if r == n), d + 1)
        assert int(got) == want, (n, d)
        checked += 1
        censored += want > d
    assert 0 < censored < checked


@pytest.mark.slow
def test_min_width_mod_p_equals_exact_rank_of_prefixes():
    rng = np.random.default_rng(2)
    fn = jax.jit(min_width.min_width_mod_p)
    for _ in range(60):
        n, d0, d = (
            int(rng.integers(2, 9)),
            int(rng.integers(1, 4)),
            int(rng.integers(1, 8)),
        )
        act = (rng.random((n, d)) < 0.6).astype(int)
        x = np.concatenate(
            [rng.integers(-1000, 1000, (n, d0)), np.ones((n, 1), int)], 1
        )
        pad = np.zeros((3, d), int)
        got, rank = fn(
            jnp.asarray(np.r_[act, pad], float),
            jnp.asarray(np.r_[x, np.zeros((3, d0 + 1), int)], float),
            n,
            d,
        )
        ranks = []
        for k in range(1, d + 1):
            kr = (act[:, :k, None] * x[:, None, :]).reshape(n, -1)
            ranks.append(jacobian.integer_rank(kr))
        want = next((k for k, r in enumerate(ranks, 1) if r == n), d + 1)
        assert int(got) == want
        assert int(rank) == (n if want <= d else ranks[-1])


@pytest.mark.slow
def test_one_dimensional_engines_agree_on_the_same_pattern():
    # d0 = 1: the combinatorial w* of the real data equals the mod-p w* of the same
    # pattern with integer data (the rank depends on the pattern alone).
    rng = np.random.default_rng(3)
    for _ in range(40):
        n, d = int(rng.integers(2, 25)), 60
        w, b, v = rng.standard_normal((3, d))
        x = np.sort(rng.standard_normal(n))
        w1, _ = min_width.min_width_1d(*(jnp.asarray(a) for a in (w, b, v, x)), n, d)
        act = ((np.outer(x, w) + b[None, :]) > 0).astype(float)
        xi = np.stack([rng.permutation(np.arange(-(10**5), 10**5))[:n], np.ones(n)], 1)
        wp, _ = min_width.min_width_mod_p(
            jnp.asarray(act), jnp.asarray(xi, float), n, d
        )
        assert int(w1) == int(wp)


@pytest.mark.parametrize("d0", [1, 2])
@pytest.mark.slow
def test_w_star_matches_the_float_engine_on_the_same_keys(d0):
    # full_rank's float SVD rule at each width on its own keys; w* from this module's
    # trials (the same keys and draws): equal wherever the float rule is not borderline.
    res = exp.law(
        d0=[d0],
        n=[6, 12, 20],
        trials=40,
        widths=(2, 4, 8, 16, 40),
        min_cap=40,
        check_float=40,
        bootstrap=50,
    )
    fc = res.results["float_check"]
    assert fc["decisions"] == 3 * 5 * 40
    assert fc["disagree"] == 0, fc["disagreements"][:5]
    w = res.arrays["w_star"]
    caps = res.arrays["cap"][:, None]
    assert ((w >= 1) & (w <= caps + 1)).all()
    # both outcomes occur at the widths checked
    full = sum(g["full_rank"] for c in res.results["cells"] for g in c["grid"])
    assert 0 < full < fc["decisions"]


def test_quantiles_respect_censoring():
    rng = np.random.default_rng(0)
    w = np.r_[np.arange(1, 81), np.full(20, 101)]  # 20% censored above cap 100
    q = exp.quantile_summary(w, 100, rng, 200)
    assert q["q50"]["value"] == 50 and q["q10"]["value"] == 10
    assert q["q90"]["value"] is None  # falls among the censored trials
    lo, hi = q["q50"]["ci95"]
    assert lo < 50 < hi


def test_fit_law_selects_the_generating_model():
    n = np.arange(50, 1001, 50)
    for model, m in (("c*n", 3.0 * n), ("c*n*log(n)", 0.7 * n * np.log(n))):
        noisy = m * np.exp(np.random.default_rng(1).normal(0, 0.01, len(n)))
        fit = exp.fit_law(n, noisy)
        assert fit["best"] in (model, "c*n^a")
        assert fit["models"][model]["aic"] < min(
            fit["models"][k]["aic"] for k in exp.MODELS if k not in (model, "c*n^a")
        )


@pytest.mark.slow
def test_streamed_units_are_full_rank_trials_units(key):
    # The blocks the threshold engine draws are the units of full_rank's trial.
    params, _, _ = full_rank.sample_trial(
        key, "paper", 5, 1, 300, sizes=(5, 1, 300), dtype=jnp.float64
    )
    w, b, v_nonzero = exp.paper_units_1d(key, jnp.uint32(64), 128)
    np.testing.assert_array_equal(w, params["w"][64:192, 0])
    np.testing.assert_array_equal(b, params["b"][64:192])
    np.testing.assert_array_equal(v_nonzero, params["v"][64:192] != 0)
    u = full_rank.sample_units(
        key, "paper", jnp.uint32(10), 7, 2, big_d0=3, dtype=jnp.float64
    )
    p3, _, _ = full_rank.sample_trial(
        key, "paper", 4, 2, 40, sizes=(4, 3, 40), dtype=jnp.float64
    )
    for k in ("w", "b", "v"):
        np.testing.assert_array_equal(u[k], p3[k][10:17])


@pytest.mark.slow
def test_full_rank_exact_rule_equals_float_rule_on_the_same_trials():
    kw = dict(
        convention="paper",
        d0=[1, 2],
        ratio=[0.5],
        n=[6, 12],
        d1=[2, 4, 8, 16],
        trials=30,
        seed=2,
    )
    exact = full_rank.probability(rank_rule="exact", **kw)
    flt = full_rank.probability(**kw)
    assert exact.results["rank_rule"].startswith("exact")
    for e, f in zip(exact.results["cells"], flt.results["cells"], strict=True):
        assert (e["panel"], e["n"], e["d1"]) == (f["panel"], f["n"], f["d1"])
        assert f["near_threshold"] == 0
        assert e["full_rank"] == f["full_rank"], (e, f)
    with pytest.raises(ValueError, match="^rank_rule exact needs convention paper"):
        full_rank.Config(convention="peer", rank_rule="exact")


def test_w_star_does_not_depend_on_the_program_plan(monkeypatch):
    """d0 >= 2 cells merged into one padded program (n = 6 and 12 padded to 20) give
    the w* of one program per cell, trial by trial."""
    kw = dict(d0=[2], n=[6, 12, 20], trials=12, min_cap=40, bootstrap=10)
    from jaxnet.rank import wstar

    monkeypatch.setattr(wstar, "COMPILE_SECONDS", 0.0)  # no merge pays: 3 programs
    alone = exp.law(**kw)
    monkeypatch.setattr(wstar, "COMPILE_SECONDS", 1e9)  # every merge pays: 1 program
    merged = exp.law(**kw)
    assert [len(r.results["metadata"]["programs"]) for r in (alone, merged)] == [3, 1]
    assert merged.results["metadata"]["programs"][0]["sizes"][0] == 20
    np.testing.assert_array_equal(alone.arrays["w_star"], merged.arrays["w_star"])
    assert len(np.unique(alone.arrays["w_star"])) > 3


def test_merge_programs_pays_for_padding_only_below_a_compilation():
    costs = {0: 1.0, 1: 1.1, 2: 10.0}  # cost of a program: items x the largest's cost

    def cost(idx):
        return len(idx) * max(costs[int(i)] for i in idx)

    plan = runtime.merge_programs([[0], [1], [2]], cost, compile_seconds=0.5)
    assert sorted(map(list, plan)) == [[0, 1], [2]]  # 0 with 1 adds 0.1 s; with 2, 9 s
    plan = runtime.merge_programs(
        [[0], [1], [2]], cost, compile_seconds=0.5, max_programs=1
    )
    assert [list(p) for p in plan] == [[0, 1, 2]]
    plan = runtime.merge_programs(
        [[0], [1], [2]],
        cost,
        compile_seconds=100.0,
        compatible=lambda a, b: 2 not in a and 2 not in b,
    )
    assert sorted(map(list, plan)) == [[0, 1], [2]]
