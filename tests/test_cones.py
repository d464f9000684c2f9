"""Gaussian measures of activation cones (jaxnet.regions.cones): closed forms, counts, and the
Monte-Carlo estimator against the exact tables."""

import numpy as np
import pytest

from jaxnet import stats
from jaxnet.regions import cones


def test_one_point_one_unit_closed_form():
    # d0 = 1, one point: the unit is active on x~ = (x, 1) with probability 1/2
    pats, mu = cones.cells_2d(np.array([[0.7, 1.0]]))
    assert sorted(map(tuple, pats.astype(int))) == [(0,), (1,)]
    np.testing.assert_allclose(mu, 0.5, rtol=0, atol=1e-15)


def test_two_points_closed_form():
    # active on both: the angle between the two half-planes is pi - angle(x1~, x2~)
    xt = np.array([[-1.0, 1.0], [2.0, 1.0]])
    pats, mu = cones.cells_2d(xt)
    cos = xt[0] @ xt[1] / np.linalg.norm(xt[0]) / np.linalg.norm(xt[1])
    both = (np.pi - np.arccos(cos)) / (2 * np.pi)
    np.testing.assert_allclose(mu[pats.all(axis=1)], both, rtol=1e-14)
    np.testing.assert_allclose(mu[(~pats).all(axis=1)], both, rtol=1e-14)


@pytest.mark.parametrize("n", [1, 2, 3, 8, 20])
def test_tables_count_every_cone_once(n):
    rng = np.random.default_rng(n)
    xt2 = np.c_[rng.standard_normal((n, 1)), np.ones(n)]
    p2, m2 = cones.cells_2d(xt2)
    assert len(p2) == len(np.unique(p2, axis=0)) == 2 * n
    xt3 = np.c_[rng.standard_normal((n, 2)), np.ones(n)]
    p3, m3 = cones.cells_3d(xt3)
    assert len(p3) == len(np.unique(p3, axis=0)) == n * (n - 1) + 2
    np.testing.assert_allclose([m2.sum(), m3.sum()], 1.0, rtol=1e-12)
    assert m2.min() > 0 and m3.min() > 0


@pytest.mark.parametrize("dim", [2, 3])
def test_monte_carlo_estimator_matches_the_exact_table(dim):
    rng = np.random.default_rng(dim)
    n = 6
    xt = np.c_[rng.standard_normal((n, dim - 1)), np.ones(n)]
    pats, mu = cones.cell_table(xt)
    est, lo, hi, missed = cones.mc_measures(rng, xt, pats, 400_000, level=0.9999)
    assert missed == 0
    # every cone inside its 99.99% Clopper-Pearson interval (false alarm < 1e-4 per
    # cone), which contains the estimate
    assert np.all((lo <= mu) & (mu <= hi)), np.c_[mu, est]
    assert np.all((lo <= est) & (est <= hi))


def test_bad_data_is_rejected():
    with pytest.raises(ValueError, match="xt must be"):
        cones.cell_table(np.ones((3, 4)))


def test_exact_interval_covers_at_small_counts_where_wilson_does_not():
    # exact binomial coverage of the 99.9% intervals at p = 2e-6, 1e5 draws
    from scipy.stats import binom

    n, p = 100_000, 2e-6
    k = np.arange(0, 60)
    mass = binom.pmf(k, n, p)
    lo, hi = stats.exact_interval(k, n, 0.999)
    wlo, whi = stats.wilson_interval(k, n, z=3.2905)
    exact_cov = mass[(lo <= p) & (p <= hi)].sum()
    wilson_cov = mass[(wlo <= p) & (p <= whi)].sum()
    assert exact_cov >= 0.999  # Clopper–Pearson: at least the level, always
    assert wilson_cov < 0.99  # the 0.24% excess the first full run saw
