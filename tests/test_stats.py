import numpy as np
import pytest

from jaxnet import stats


def test_wilson_interval_known_values():
    # Wilson 95% interval for 5/10: (0.2366, 0.7634) (standard textbook value).
    lo, hi = stats.wilson_interval(5, 10)
    np.testing.assert_allclose([lo, hi], [0.23659, 0.76341], atol=1e-5)
    # k = 0: the closed form gives [0, z²/(T + z²)].
    lo, hi = stats.wilson_interval(0, 100)
    z2 = stats.Z95**2
    assert lo == 0.0
    np.testing.assert_allclose(hi, z2 / (100 + z2), rtol=1e-12)
    with pytest.raises(ValueError):
        stats.wilson_interval(3, 2)
    with pytest.raises(ValueError):
        stats.wilson_interval(1.5, 2)


def test_wilson_interval_closed_form_elementwise():
    # Against the closed form (p + z²/2T ± z·sqrt(p(1-p)/T + z²/4T²)) / (1 + z²/T),
    # elementwise over an array, at another confidence level (z = 1).
    k = np.array([[1, 7], [30, 99]])
    t = np.array([[10, 20], [50, 100]])
    z = 1.0
    lo, hi = stats.wilson_interval(k, t, z=z)
    p = k / t
    c = (p + z * z / (2 * t)) / (1 + z * z / t)
    h = z * np.sqrt(p * (1 - p) / t + z * z / (4 * t * t)) / (1 + z * z / t)
    np.testing.assert_allclose(lo, c - h, rtol=1e-9)
    np.testing.assert_allclose(hi, c + h, rtol=1e-9)


def test_closed_forms_equal_scipy_binomtest():
    # the vectorized Wilson and Clopper–Pearson intervals against SciPy's, rtol 1e-9
    from scipy.stats import binomtest

    for k, t in (
        (0, 1),
        (1, 1),
        (0, 50),
        (3, 50),
        (25, 50),
        (50, 50),
        (7, 100_000),
        (99_999, 100_000),
    ):
        lo, hi = stats.wilson_interval(k, t)
        ref = binomtest(k, t).proportion_ci(0.95, method="wilson")
        np.testing.assert_allclose([lo, hi], [ref.low, ref.high], rtol=1e-9, atol=1e-15)
        lo, hi = stats.exact_interval(k, t, 0.999)
        ref = binomtest(k, t).proportion_ci(0.999, method="exact")
        np.testing.assert_allclose([lo, hi], [ref.low, ref.high], rtol=1e-9, atol=1e-15)
    lo, hi = stats.wilson_interval(np.arange(11), 10)  # arrays, elementwise
    assert lo.shape == (11,) and np.all(np.diff(lo) > 0) and np.all(np.diff(hi) > 0)


def test_crossing_interpolates_and_says_where_none():
    # linear between the last point below the level and the first at or above it
    assert stats.crossing([0.0, 0.2, 0.8]) == pytest.approx(1.5, abs=1e-12)
    assert stats.crossing([0.6, 0.9]) == 0.0
    assert stats.crossing([0.1, 0.5]) == 1.0
    assert np.isnan(stats.crossing([0.1, 0.4]))
    assert stats.crossing([0.0, 1.0], level=0.25) == pytest.approx(0.25, abs=1e-12)


def test_grid_crossing_row_by_row_with_missing_cells():
    cells = [
        {"n": n, "d1": d, "p": p}
        for n, ps in ((10, (0.0, 0.4, 0.6)), (20, (0.0, 0.1, 0.2)))
        for d, p in zip((5, 10, 15), ps, strict=True)
    ]
    line = stats.grid_crossing(cells, [10, 20, 30], [5, 10, 15], "p")
    assert line[0] == pytest.approx(1.5, abs=1e-12)
    assert np.isnan(line[1]) and np.isnan(line[2])  # never reaches 1/2; no cells


def test_interval_side():
    assert stats.interval_side((0.1, 0.2), (0.3, 0.4)) == -1
    assert stats.interval_side((0.5, 0.6), (0.3, 0.4)) == 1
    assert stats.interval_side((0.1, 0.35), (0.3, 0.4)) == 0
    assert stats.interval_side((0.4, 0.5), (0.3, 0.4)) == 0  # touching overlaps
