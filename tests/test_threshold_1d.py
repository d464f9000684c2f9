"""The d0 = 1 threshold law: P(full rank | data) against brute-force enumeration of
unit draws and the Poisson mixture; the fast path against the exact one; the closed
forms against quadrature; the experiment's checks, including one that must fail."""

import numpy as np
import pytest
from scipy import stats

from jaxnet import claims
from jaxnet.rank import conditional, limit_law


def _data(rng, shape, convention):
    x = rng.standard_normal(shape) if convention == "paper" else rng.random(shape)
    return np.sort(x, axis=1)


@pytest.mark.parametrize("convention", ["paper", "peer"])
@pytest.mark.parametrize(("n", "m"), [(1, 3), (2, 3), (3, 4), (4, 3)])
def test_exact_equals_brute_force_enumeration(convention, n, m):
    x = _data(np.random.default_rng(n * 10 + m), (3, n), convention)
    got, bound = conditional.exact_prob(x, [m], convention)
    want = conditional.brute_force_prob(x, m, convention)
    assert bound[0] < 1e-12
    np.testing.assert_allclose(got[:, 0], want, rtol=0, atol=1e-12)


def test_poisson_width_equals_the_poisson_mixture_of_enumerations():
    x = _data(np.random.default_rng(5), (2, 2), "paper")
    lam, kmax = 0.5, 6  # 6^6 enumerations at most; the tail beyond kmax is < 2e-6
    mix = sum(
        stats.poisson.pmf(k, lam) * conditional.brute_force_prob(x, k)
        for k in range(1, kmax + 1)
    )
    got = conditional.poisson_prob(x, [lam])[:, 0]
    tail = stats.poisson.sf(kmax, lam)  # the enumeration's truncation, at most
    assert np.all(got >= mix - 1e-14) and np.all(got <= mix + tail + 1e-14)


@pytest.mark.parametrize("n", [10, 40])
def test_fast_path_within_1e_3_of_the_exact_one(n):
    x = _data(np.random.default_rng(n), (30, n), "paper")
    widths = [20, 60, 150, 300]
    exact, bound = conditional.exact_prob(x, widths)
    fast = conditional.depoissonized_prob(x, widths)
    assert bound.max() < 1e-9
    np.testing.assert_allclose(fast, exact, rtol=0, atol=1e-3)


def test_probability_is_monotone_in_width_and_zero_below_n_over_2():
    x = _data(np.random.default_rng(9), (5, 12), "paper")
    p, _ = conditional.exact_prob(x, [3, 5, 8, 16, 40])
    assert np.all(p[:, :2] < 1e-12)  # fewer than (n - 1)/2 units cannot pin the gaps
    assert np.all(np.diff(p, axis=1) >= -1e-12)


@pytest.mark.parametrize("convention", ["paper", "peer"])
@pytest.mark.parametrize("order", [0, 1])
def test_closed_form_constants_equal_their_quadrature(convention, order):
    np.testing.assert_allclose(
        limit_law.constant(convention, order),
        limit_law.constant_quadrature(convention, order),
        rtol=1e-10,
    )


def test_finite_n_law_tends_to_the_frechet_limit():
    t = np.array([0.8, 1.6, 4.0])
    far = limit_law.law_cdf(t, 10**10)
    np.testing.assert_allclose(far, limit_law.frechet_cdf(t), atol=2e-4)
    big = 10**6
    np.testing.assert_allclose(
        limit_law.law_cdf(t, big), limit_law.expansion_cdf(t, big), atol=2e-3
    )
    assert limit_law.frechet_quantile(0.5) == pytest.approx(
        np.sqrt(np.pi / np.sqrt(3) / np.log(2)), rel=1e-12
    )


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: conditional.exact_prob([[2.0, 1.0]], [3]), "strictly increasing"),
        (lambda: conditional.exact_prob([[1.0, 2.0]], [0]), "widths must be positive"),
        (lambda: conditional.poisson_prob([[1.0, 2.0]], [-1.0]), "lam must be"),
        (lambda: conditional.poisson_prob([[1.0, np.nan]], [1.0]), "x_sorted"),
        (lambda: conditional.exact_prob([[1.0]], [1], "laplace"), "convention must be"),
        (lambda: limit_law.frechet_quantile(1.0), "q must lie"),
    ],
)
def test_bad_input_is_refused_naming_the_argument(call, match):
    with pytest.raises(ValueError, match=match):
        call()


TINY = dict(  # the law part is judged by the claims test below and at full scale
    conventions=["paper"],
    law_n=[],
    law_data=8,
    law_points=8,
    t_points=12,
    panel_n=[10],
    panel_data=50,
    exact_check=3,
    engine_n=[20],
    engine_trials=300,
    engine_law_n=[],
    bootstrap=20,
)


@pytest.mark.slow
def test_experiment_agrees_with_the_engine_and_a_wrong_law_fails(monkeypatch):
    from jaxnet.experiments import threshold_1d

    res = threshold_1d.law(**TINY).results
    assert res["engine"]["agrees"] is True
    rows = claims.claims_threshold_1d({"threshold_1d": res})
    assert all(r[4] == "beyond the documents" for r in rows), rows
    # the peer breakpoint law used on paper data: the engine check must fail
    real = conditional.breakpoint_cdf
    monkeypatch.setattr(
        conditional, "breakpoint_cdf", lambda t, convention: real(t, "peer")
    )
    bad = threshold_1d.law(**{**TINY, "panel_n": []}).results
    assert bad["engine"]["agrees"] is False
    (row,) = claims.claims_threshold_1d({"threshold_1d": bad})
    assert row[4] == "not reproduced"


def test_claims_fail_when_the_finite_n_law_misses_the_measured_median():
    base = {
        "constants": {"paper": {"K": 1.8138, "limit_quantiles": {"q50": 1.618}}},
        "law": [
            {
                "convention": "paper",
                "n": 1000,
                "data_sets": 100,
                "q50": {"value": 3.0, "ci95": [2.9, 3.1]},
                "poisson_shift_t": 0.01,
                "ks_frechet": 0.5,
                "ks_finite_n": 0.5,
            }
        ],
        "engine": {"cells": []},
        "panel": [],
    }
    (row,) = claims.claims_threshold_1d({"threshold_1d": base})
    assert row[4] == "not reproduced"
    base["law"][0]["q50"] = {"value": 1.55, "ci95": [1.45, 1.65]}
    (row,) = claims.claims_threshold_1d({"threshold_1d": base})
    assert row[4] == "beyond the documents"
