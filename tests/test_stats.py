import numpy as np
import pytest

from jaxnet import stats


def test_wilson_interval_known_values():
    # Wilson 95% interval for 5/10: (0.2366, 0.7634) (standard textbook value).
    lo, hi = stats.wilson_interval(5, 10)
    np.testing.assert_allclose([lo, hi], [0.23659, 0.76341], atol=1e-5)
    lo, hi = stats.wilson_interval(0, 100)
    assert lo == 0 and 0.03 < hi < 0.04
    with pytest.raises(ValueError):
        stats.wilson_interval(3, 2)
