"""Review of the row-block batch norm (batchnorm_loops.h, fastnn_bn_rows_*):
edge cases the kernel tests do not reach."""
import numpy as np
import pytest

from fastnn import ops
from fastnn._kernels import batchnorm as _k


def _numpy_stats(x):
    """The reference's mean and biased variance (fastnn.reference's formulas)."""
    mu = x.mean(axis=0)
    return mu, np.mean((x - mu) ** 2, axis=0)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("blocks", [2, 3, 16])
def test_one_row_last_block_far_out_keeps_a_finite_variance(blocks, threads):
    """n = blocks·ROWS + 1: the last block holds one row, here at
    (1 + 1/(4n))·sqrt(DBL_MAX) from the others.  Its share of M2 is
    delta²·(n - 1)/n, finite (NumPy's variance, and the single Welford pass
    before row blocks, stay finite), but delta² alone overflows: Chan's
    update must not form it first."""
    n = blocks * _k.ROWS + 1
    rng = np.random.default_rng(blocks)
    x = rng.standard_normal((n, 3))
    far = np.sqrt(np.finfo(np.float64).max) * (1 + 0.25 / n)
    with np.errstate(over="ignore"):
        assert np.isinf(far * far)
    x[:, 1] = 0.0
    x[-1, 1] = far
    x[-1, 2] = -far
    mu, var = _numpy_stats(x)
    assert np.isfinite(var).all()              # the reference stays finite
    gamma, beta = np.ones(3), np.zeros(3)
    rm, rv = np.zeros(3), np.ones(3)
    out, xc, xn, std = ops.batchnorm_forward_train(x, gamma, beta, rm, rv, momentum=0.5,
                                                   num_threads=threads)
    assert np.isfinite(std).all() and np.isfinite(rv).all()
    np.testing.assert_allclose(std, np.sqrt(var + 1e-6), rtol=1e-12)
    np.testing.assert_allclose(rv, 0.5 + 0.5 * var, rtol=1e-12)
    np.testing.assert_allclose(rm, 0.5 * mu, rtol=1e-12)
    np.testing.assert_allclose(xn, (x - mu) / np.sqrt(var + 1e-6), rtol=1e-12, atol=1e-12)
    assert abs(xn[-1, 1]) > 10                  # the outlier, not 0 = x·(1/inf)


def test_one_row_last_blocks_agree_with_the_reference_near_the_overflow():
    """One-row last blocks after 2..12 whole ones, the outlier on both sides
    of delta² = DBL_MAX, its M2 share finite: the reference's std (float64;
    float32 keeps its statistics in double, far from overflow)."""
    big = np.sqrt(np.finfo(np.float64).max)
    overflowing = 0
    for blocks in range(2, 13):
        n = blocks * _k.ROWS + 1
        for f in (-0.5, 0.1, 0.25, 0.45):
            x = np.zeros((n, 1))
            x[-1, 0] = big * (1 + f / n)
            with np.errstate(over="ignore"):
                overflowing += bool(np.isinf(x[-1, 0] ** 2))
            mu, var = _numpy_stats(x)
            assert np.isfinite(var).all()
            std = ops.batchnorm_forward_train(x, np.ones(1), np.zeros(1))[3]
            np.testing.assert_allclose(std, np.sqrt(var + 1e-6), rtol=1e-12,
                                       err_msg="n=%d f=%g" % (n, f))
    assert overflowing == 3 * 11
