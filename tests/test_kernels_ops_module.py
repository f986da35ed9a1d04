"""fastnn.ops is one Python module of checked wrappers over unchecked
kernel drivers (issue 19): the checks live there, and the ops overrides on
the layers' step path check once, in C, without going through them."""
import inspect

import numpy as np
import pytest

import fastnn.ops as F
from fastnn.backends.compiled import CompiledOps
from fastnn.backends.numpy_ops import NumpyOps


def test_every_public_op_is_a_python_function_of_fastnn_ops():
    for name in F.__all__:
        fn = getattr(F, name)
        assert inspect.isfunction(fn), name
        assert fn.__module__ == "fastnn.ops", name


SCALARS = [
    (F.sgd_update, 2, ["lr"]),
    (F.momentum_update, 3, ["lr", "momentum"]),
    (F.nesterov_update, 3, ["lr", "momentum"]),
    (F.adagrad_update, 3, ["lr", "eps"]),
    (F.rmsprop_update, 3, ["lr", "decay_rate", "eps"]),
    (F.adam_update, 4, ["lr_t", "beta1", "beta2", "eps"]),
]


@pytest.mark.parametrize("fn, arrays, names", SCALARS, ids=lambda v: getattr(v, "__name__", ""))
@pytest.mark.parametrize("bad", ["0.1", None, b"x"])
def test_optimizer_scalars_that_are_not_numbers_raise_naming_the_argument(fn, arrays, names,
                                                                            bad):
    for i, name in enumerate(names):
        args = [np.ones(3) for _ in range(arrays)] + [0.5] * len(names)
        args[arrays + i] = bad
        param = args[0].copy()
        with pytest.raises(TypeError, match=r"\b%s must be a real number" % name):
            fn(*args)
        assert np.array_equal(args[0], param)       # nothing written


@pytest.mark.parametrize("fn, rows", [(F.softmax_cross_entropy_forward, "x"),
                                      (F.softmax_cross_entropy_backward, "y")])
def test_softmax_smoothing_checked_by_name(fn, rows):
    x = np.random.default_rng(0).random((3, 4))
    t = np.array([0, 1, 3])
    with pytest.raises(TypeError, match="label_smoothing must be a real number"):
        fn(x, t, "0.1")
    with pytest.raises(ValueError, match=r"label_smoothing must be in \[0, 1\)"):
        fn(x, t, 1.0)


@pytest.mark.parametrize("method", ["softmax_cross_entropy_forward",
                                    "softmax_cross_entropy_backward"])
@pytest.mark.parametrize("labels", [np.array([0, 4, 1]), np.array([-1, 0, 1], np.int8),
                                    np.array([0, 1, 9], np.uint16)])
def test_softmax_override_refuses_out_of_range_labels_naming_t(method, labels):
    x = np.random.default_rng(1).random((3, 4))
    with pytest.raises(ValueError, match=r"\bt must hold class indices in \[0, 4\)"):
        getattr(CompiledOps(), method)(x, labels)
    with pytest.raises(ValueError, match=r"label_smoothing must be in \[0, 1\)"):
        getattr(CompiledOps(), method)(x, np.array([0, 1, 2]), 1.5)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("layout", ["c", "fortran", "strided", "swapped"])
@pytest.mark.parametrize("labels", ["i64", "u8", "i16", "swapped", "onehot"])
def test_softmax_override_equals_the_checked_function_bit_for_bit(dtype, layout, labels):
    r = np.random.default_rng(2)
    n, c = 7, 5
    x = r.standard_normal((n, 2 * c)).astype(dtype)
    x = {"c": x[:, :c].copy(), "fortran": np.asfortranarray(x[:, :c]), "strided": x[:, ::2],
         "swapped": x[:, :c].astype(x.dtype.newbyteorder())}[layout]
    idx = r.integers(0, c, n)
    t = {"i64": idx, "u8": idx.astype(np.uint8), "i16": idx.astype(np.int16),
         "swapped": idx.astype(np.dtype(np.int32).newbyteorder()),
         "onehot": np.eye(c, dtype=dtype)[idx]}[labels]
    if labels == "onehot" and layout == "swapped":
        t = t.astype(x.dtype)                       # one-hot rows of x's own dtype
    ops = CompiledOps()
    for eps in (0.0, 0.2):
        loss, y = ops.softmax_cross_entropy_forward(x, t, eps)
        loss2, y2 = F.softmax_cross_entropy_forward(x, t, eps)
        assert loss.dtype == loss2.dtype and loss.tobytes() == loss2.tobytes()
        assert y.tobytes() == y2.tobytes()
        dx = ops.softmax_cross_entropy_backward(y, t, eps)
        assert dx.tobytes() == F.softmax_cross_entropy_backward(y, t, eps).tobytes()
        ref_loss, ref_y = NumpyOps().softmax_cross_entropy_forward(x, t, eps)
        np.testing.assert_allclose(y, ref_y, rtol=1e-5 if dtype == np.float32 else 1e-12)
