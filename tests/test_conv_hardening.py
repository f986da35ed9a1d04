"""Bad sizes into the convolution family are refused, never read or written
past an array (found by review: these used to crash the process or return
uninitialised memory).  The public layers raise ValueError naming the
argument; the private kernels check every shape against the geometry they
are given before entering C."""
import numpy as np
import pytest

from fastnn import layers as fast, util
from fastnn._kernels import conv as kconv, maxpool as kpool, winograd as kwino
from fastnn.reference import layers as ref


@pytest.mark.parametrize("mod", [fast, ref], ids=["fast", "reference"])
@pytest.mark.parametrize("ph, pw, stride, shape", [
    (0, 0, 2, (1, 2, 4, 4)),
    (-3000, -1, 1, (1, 1, 8, 512)),
    (2, 0, 1, (1, 1, 4, 4)),
])
def test_pooling_window_below_one_is_refused(mod, ph, pw, stride, shape):
    with pytest.raises(ValueError):
        mod.Pooling(ph, pw, stride=stride).forward(np.ones(shape))


@pytest.mark.parametrize("fh, fw", [(-1, -1), (-1, 2), (2, -3)])
def test_im2col_negative_filter_is_refused(fh, fw):
    with pytest.raises(ValueError, match="filter_"):
        util.im2col(np.ones((2, 1, 3, 3)), fh, fw)
    with pytest.raises(ValueError, match="filter_"):
        util.col2im(np.ones((50, 1)), (2, 1, 3, 3), fh, fw)


def test_im2col_zero_filter_runs_as_the_books():
    assert util.im2col(np.ones((2, 1, 3, 3)), 0, 0).shape == (32, 0)


def _wino_args(n=2, c=8, fn=8, h=6, w=6, pad=1, dtype=np.float64):
    x = np.ones((n, c, h, w), dtype)
    W = np.ones((fn, c, 3, 3), dtype)
    out = np.empty((n, fn, h + 2 * pad - 2, w + 2 * pad - 2), dtype)
    nb, size = kwino.wino_sizes(n, c, fn, *out.shape[2:], 8)
    return x, W, np.ones(fn, dtype), out, np.empty(size, dtype), nb


@pytest.mark.parametrize("change", ["w", "b", "out_n", "out_hw", "pad", "nb"])
def test_winograd_kernel_refuses_bad_shapes(change):
    x, W, b, out, scratch, nb = _wino_args()
    pad = 1
    if change == "w":
        W = np.ones((1, 1, 1, 1))
    elif change == "b":
        b = np.ones(3)
    elif change == "out_n":
        out = np.empty((5,) + out.shape[1:])
    elif change == "out_hw":
        out = np.empty(out.shape[:2] + (9, 9))
    elif change == "pad":
        pad = -1
    else:
        nb = 0
    with pytest.raises(ValueError):
        kwino.wino_conv(x, W, b, pad, False, out, scratch, nb)


@pytest.mark.parametrize("change", ["dw", "db", "dout_n"])
def test_winograd_weight_grad_refuses_bad_shapes(change):
    x, W, _, dout, scratch, nb = _wino_args()
    dw, db = np.empty(W.shape), np.empty(W.shape[0])
    if change == "dw":
        dw = np.empty((1, 1, 3, 3))
    elif change == "db":
        db = np.empty(1)
    else:
        dout = np.ones((1,) + dout.shape[1:])
    with pytest.raises(ValueError):
        kwino.wino_weight_grad(x, dout, 1, dw, db, scratch, nb)


def test_conv_kernels_refuse_bad_shapes():
    x = np.ones((2, 3, 5, 5))
    W2 = np.ones((4, 27))
    out = np.empty((2, 4, 3, 3))
    colT = np.empty((1, 27, 9))
    with pytest.raises(ValueError, match="colT"):
        kconv.conv_forward(x, W2, np.ones(4), 3, 3, 1, 0, out, np.empty((2, 2)))
    with pytest.raises(ValueError, match="colT"):
        kconv.conv_forward(x, W2, np.ones(4), 3, 3, 1, 0, out, np.empty((0, 27, 9)))
    with pytest.raises(ValueError, match="parts"):
        kconv.conv_backward(x, W2, out, 3, 3, 1, 0, np.empty((4, 27)), np.empty(4), None, colT,
                            np.empty((1, 4, 26)))
    with pytest.raises(ValueError, match="groups"):
        kconv.conv_backward(x, W2, out, 3, 3, 1, 0, np.empty((4, 27)), np.empty(4), None, colT,
                            np.empty((2, 4, 27)))
    with pytest.raises(ValueError, match="out"):
        kconv.conv_forward(x, W2, np.ones(4), 3, 3, 1, 0, np.empty((2, 4, 9, 9)), colT)
    with pytest.raises(ValueError, match="b"):
        kconv.conv_forward(x, W2, np.ones(1), 3, 3, 1, 0, out, colT)
    with pytest.raises(ValueError, match="dW2"):
        kconv.conv_backward(x, W2, out, 3, 3, 1, 0, np.empty((1, 1)), np.empty(4), None, colT)
    with pytest.raises(ValueError, match="dx"):
        kconv.conv_backward(x, W2, out, 3, 3, 1, 0, np.empty((4, 27)), np.empty(4),
                            np.empty((1, 3, 5, 5)), colT)
    with pytest.raises(ValueError, match="col"):
        kconv.im2col_into(x, 3, 3, 1, 0, 3, 3, np.empty((2, 2)))
    with pytest.raises(ValueError):
        kconv.im2col_into(x, 3, 3, 1, 0, 7, 7, np.empty((2 * 49, 27)))


def test_pooling_kernels_refuse_bad_shapes():
    x = np.ones((2, 3, 4, 4))
    arg = np.empty(2 * 3 * 2 * 2, np.uint8)
    with pytest.raises(ValueError, match="out"):
        kpool.pool_forward(x, 2, 2, 2, 0, np.empty((2, 3, 4, 4)), np.empty(96, np.uint8))
    with pytest.raises(ValueError, match="pool_h"):
        kpool.pool_forward(x, 0, 0, 2, 0, np.empty((2, 3, 3, 3)), np.empty(54, np.uint8))
    with pytest.raises(ValueError, match="dout"):
        kpool.pool_backward(np.ones((1, 3, 2, 2)), np.zeros(24, np.uint8), 2, 2, 2, 0,
                            np.empty_like(x))
    with pytest.raises(ValueError, match="arg_max"):
        kpool.pool_backward(np.ones((2, 3, 2, 2)), arg[:5], 2, 2, 2, 0, np.empty_like(x))


@pytest.mark.parametrize("layer", ["conv", "pool"])
def test_stride_or_pad_beyond_int32_is_a_clear_error(layer):
    from fastnn import layers as L
    x = np.zeros((1, 1, 4, 4))
    for kw in ({"stride": 2 ** 63}, {"stride": 2 ** 31}, {"pad": 2 ** 40}):
        if layer == "conv":
            make = lambda kw=kw: L.Convolution(np.ones((1, 1, 2, 2)), np.zeros(1), **kw)  # noqa: E731
        else:
            make = lambda kw=kw: L.Pooling(2, 2, **kw)  # noqa: E731
        with pytest.raises(ValueError, match="must be at most 2147483647"):
            make().forward(x)
