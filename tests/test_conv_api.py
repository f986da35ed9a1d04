"""The CNN half of the book's ``common/``: names, the book's lenient sizes, clear errors."""
import numpy as np
import pytest

from fastnn import get_backend
from fastnn import functions, gradient, util
from fastnn.reference import util as ref_util

from _util import BACKENDS


def test_star_import_gives_what_common_layers_gives():
    ns = {}
    exec("from fastnn.layers import *", ns)
    for name in ["np", "Convolution", "Pooling", "im2col", "col2im", "Relu", "Affine",
                 "SoftmaxWithLoss", "BatchNormalization", "Dropout", "softmax", "sigmoid",
                 "cross_entropy_error", "sum_squared_error", "relu", "step_function"]:
        assert name in ns, name


def test_sum_squared_error_and_its_old_name():
    y, t = np.array([0.1, 0.7, 0.2]), np.array([0.0, 1.0, 0.0])
    assert functions.sum_squared_error(y, t) == pytest.approx(0.5 * (0.01 + 0.09 + 0.04))
    assert functions.mean_squared_error is functions.sum_squared_error


def test_numerical_gradient_2d_rows():
    X = np.array([[1.0, 2.0], [3.0, -1.0]])
    g = gradient.numerical_gradient_2d(lambda x: np.sum(x ** 2), X)
    np.testing.assert_allclose(g, 2 * X, rtol=1e-8)
    v = np.array([3.0, 4.0])
    np.testing.assert_allclose(gradient._numerical_gradient_1d(lambda x: np.sum(x ** 2), v),
                               [6.0, 8.0], rtol=1e-8)


def test_conv_output_size_is_the_books_float():
    assert util.conv_output_size(6, 3, stride=2) == 2.5
    assert util.conv_output_size(28, 5) == 24.0


def test_im2col_rows_and_columns():
    # x[n, c, i, j] = 1000n + 100c + 10i + j: every entry says where it came from.
    n, c, i, j = np.meshgrid(range(2), range(2), range(4), range(5), indexing="ij")
    x = (1000 * n + 100 * c + 10 * i + j).astype(float)
    for im2col in (util.im2col, ref_util.im2col):
        col = im2col(x, 3, 2, stride=1, pad=0)
        assert col.shape == (2 * 2 * 4, 2 * 3 * 2)
        # row (n=1, oh=1, ow=2), column (c=1, fh=2, fw=1) -> x[1, 1, 3, 3]
        assert col[(1 * 2 + 1) * 4 + 2, (1 * 3 + 2) * 2 + 1] == 1133.0
        padded = im2col(x, 2, 2, stride=2, pad=1)
        assert padded.shape == (2 * 3 * 3, 2 * 2 * 2)
        assert padded[0, 0] == 0.0 and padded[0, 3] == x[0, 0, 0, 0]


def test_col2im_adds_up_overlaps():
    x = np.ones((1, 1, 3, 3))
    for mod in (util, ref_util):
        back = mod.col2im(mod.im2col(x, 2, 2), x.shape, 2, 2)
        np.testing.assert_array_equal(back[0, 0], [[1, 2, 1], [2, 4, 2], [1, 2, 1]])


@pytest.mark.parametrize("backend", BACKENDS)
class TestBadParameters:
    def conv(self, backend, x_shape=(2, 3, 6, 6), w_shape=(4, 3, 3, 3), **kw):
        L = get_backend(backend).layers
        W = np.ones(w_shape)
        return L.Convolution(W, np.zeros(w_shape[0]), **kw), np.ones(x_shape)

    def test_non_tiling_sizes_are_floored_as_in_the_book(self, backend):
        layer, x = self.conv(backend, x_shape=(1, 3, 6, 6), stride=2)
        assert layer.forward(x).shape == (1, 4, 2, 2)
        L = get_backend(backend).layers
        assert L.Pooling(2, 2).forward(np.ones((1, 2, 5, 5))).shape == (1, 2, 2, 2)
        assert L.Pooling(3, 3, stride=2).forward(np.ones((1, 2, 6, 6))).shape == (1, 2, 2, 2)

    @pytest.mark.parametrize("case, word", [
        (dict(x_shape=(3, 6, 6)), "x must be a 4-D"),
        (dict(stride=0), "stride must be >= 1"),
        (dict(pad=-1), "pad must be >= 0"),
        (dict(x_shape=(2, 2, 6, 6)), "channels"),
        (dict(x_shape=(2, 3, 2, 6)), "output size 0 < 1"),
        (dict(w_shape=(4, 3, 3)), "W must be 4-D"),
    ])
    def test_convolution_errors(self, backend, case, word):
        layer, x = self.conv(backend, **case)
        with pytest.raises(ValueError, match=word):
            layer.forward(x)

    def test_stride_must_be_an_int(self, backend):
        layer, x = self.conv(backend, stride=1.5)
        with pytest.raises(TypeError, match="stride must be an int"):
            layer.forward(x)

    @pytest.mark.parametrize("args, x_shape, word", [
        ((3, 3), (1, 1, 2, 2), "pool_h/pool_w of size 3"),
        ((2, 2, 0), (1, 1, 4, 4), "stride must be >= 1"),
        ((2, 2, 2, -1), (1, 1, 4, 4), "pad must be >= 0"),
        ((2, 2, 2, 1), (1, 1, 5, 5), "changes the number of pooling windows"),
        ((2, 2), (4, 4), "x must be a 4-D"),
    ])
    def test_pooling_errors(self, backend, args, x_shape, word):
        L = get_backend(backend).layers
        with pytest.raises(ValueError, match=word):
            L.Pooling(*args).forward(np.ones(x_shape))
