"""fastnn.reference (fastnn's layer and optimizer classes on NumpyOps) against
the book's own classes, transcribed in tests/book_oracle/: the same numbers,
bit for bit, since NumpyOps keeps the book's statements.

This is what makes the reference an oracle: the compiled kernels are tested
against fastnn.reference everywhere else, and fastnn.reference is tested
against the book here."""
import numpy as np
import pytest

import fastnn
from fastnn.backends import NumpyOps
from fastnn.reference import layers as ref
from fastnn.reference import optimizer as ref_opt

from book_oracle import layers as book
from book_oracle import optimizer as book_opt

SEEDS = range(4)
DTYPES = [np.float64, np.float32]


def _rand(rng, shape, dtype, layout="c"):
    a = rng.standard_normal(shape).astype(dtype)
    if layout == "f":
        return np.asfortranarray(a)
    if layout == "strided":
        big = np.zeros(shape[:-1] + (shape[-1] * 2,), dtype=dtype)
        big[..., ::2] = a
        return big[..., ::2]
    return a


def _same(a, b):
    if a is None or b is None:
        assert a is None and b is None
        return
    a, b = np.asarray(a), np.asarray(b)
    assert a.dtype == b.dtype and a.shape == b.shape
    np.testing.assert_array_equal(a, b)


def _run_pair(make, x_shape, dtype, rng, layout, train=None, t=None):
    """Forward and backward through the reference layer and the book's."""
    x = _rand(rng, x_shape, dtype, layout)
    mine, theirs = make(ref), make(book)
    assert isinstance(mine.ops, NumpyOps) and type(mine.ops).__name__ == "NumpyOps"
    args = () if train is None else (train,)
    if t is not None:
        args = (t,)
    state = np.random.get_state()
    y1 = mine.forward(x.copy(order="K") if layout == "c" else x, *args)
    np.random.set_state(state)
    y2 = theirs.forward(x, *args)
    _same(y1, y2)
    if train is False:
        return mine, theirs        # no backward pass after inference
    dout = 1 if t is not None else _rand(rng, np.shape(y2), dtype)
    _same(mine.backward(dout), theirs.backward(dout))
    return mine, theirs


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("layout", ["c", "f", "strided"])
def test_dense_layers_give_the_books_numbers_bit_for_bit(seed, dtype, layout):
    rng = np.random.default_rng(seed)
    n, d, h = rng.integers(1, 9), rng.integers(1, 12), rng.integers(1, 12)
    W, b = _rand(rng, (d, h), dtype), _rand(rng, (h,), dtype)
    mine, theirs = _run_pair(lambda m: m.Affine(W, b), (n, d), dtype, rng, layout)
    _same(mine.dW, theirs.dW)
    _same(mine.db, theirs.db)
    _run_pair(lambda m: m.Relu(), (n, d), dtype, rng, layout)
    _run_pair(lambda m: m.Sigmoid(), (n, d), dtype, rng, layout)
    for train in (True, False):
        np.random.seed(seed)
        _run_pair(lambda m: m.Dropout(0.3), (n, d), dtype, rng, layout, train=train)
    gamma, beta = _rand(rng, (d,), dtype) + 2, _rand(rng, (d,), dtype)
    bn_mine, bn_book = _run_pair(lambda m: m.BatchNormalization(gamma, beta), (n + 1, d),
                                 dtype, rng, layout, train=True)
    for name in ("dgamma", "dbeta", "running_mean", "running_var", "xc", "xn", "std"):
        _same(getattr(bn_mine, name), getattr(bn_book, name))


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_softmax_with_loss_gives_the_books_numbers_bit_for_bit(seed, smoothing):
    rng = np.random.default_rng(seed)
    n, c = rng.integers(1, 9), rng.integers(2, 7)
    labels = rng.integers(0, c, size=n)
    for t in (labels, np.eye(c)[labels]):
        _run_pair(lambda m: m.SoftmaxWithLoss(label_smoothing=smoothing), (n, c),
                  np.float64, rng, "c", t=t)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_conv_and_pooling_give_the_books_numbers_bit_for_bit(seed, dtype):
    rng = np.random.default_rng(seed)
    n, c, fn = rng.integers(1, 4), rng.integers(1, 4), rng.integers(1, 5)
    fh, fw = rng.integers(1, 4), rng.integers(1, 4)
    stride, pad = rng.integers(1, 3), rng.integers(0, 2)
    hw = int(max(fh, fw) + rng.integers(0, 5))
    W, b = _rand(rng, (fn, c, fh, fw), dtype), _rand(rng, (fn,), dtype)
    mine, theirs = _run_pair(lambda m: m.Convolution(W, b, stride, pad), (n, c, hw, hw),
                             dtype, rng, "c")
    _same(mine.dW, theirs.dW)
    _same(mine.db, theirs.db)
    _same(mine.col, theirs.col)
    mine, theirs = _run_pair(lambda m: m.Pooling(2, 2, 2), (n, c, hw + hw % 2, hw + hw % 2),
                             dtype, rng, "c")
    _same(mine.arg_max, theirs.arg_max)


@pytest.mark.parametrize("name", ["SGD", "Momentum", "Nesterov", "AdaGrad", "RMSprop", "Adam"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_optimizers_give_the_books_numbers_bit_for_bit(name, dtype):
    rng = np.random.default_rng(7)
    shapes = {"W1": (5, 3), "b1": (3,), "W2": (3, 2)}
    p1 = {k: _rand(rng, s, dtype) for k, s in shapes.items()}
    p2 = {k: v.copy() for k, v in p1.items()}
    mine, theirs = getattr(ref_opt, name)(), getattr(book_opt, name)()
    assert isinstance(mine.ops, NumpyOps)
    for _ in range(5):
        grads = {k: _rand(rng, s, dtype) for k, s in shapes.items()}
        mine.update(p1, grads)
        theirs.update(p2, grads)
        for k in shapes:
            _same(p1[k], p2[k])


def test_python_float_parameters_update_as_in_the_book():
    # The book's 2-D optimizer demo: params are Python floats, rebound in the dict.
    p1, p2 = {"x": -7.0, "y": 2.0}, {"x": -7.0, "y": 2.0}
    mine, theirs = ref_opt.Adam(lr=0.3), book_opt.Adam(lr=0.3)
    for _ in range(3):
        g = {"x": p1["x"] / 10.0, "y": 2.0 * p1["y"]}
        mine.update(p1, g)
        theirs.update(p2, g)
    assert p1 == p2


def test_reference_classes_are_the_fast_classes_with_numpy_ops():
    # One class per layer: the reference twin adds nothing but its ops.
    for name in ref.__all__:
        cls = getattr(ref, name)
        fast = getattr(fastnn.layers, name)
        assert cls.__mro__[1] is fast
        assert set(vars(cls)) <= {"_OPS", "__module__", "__doc__", "__qualname__",
                                  "__firstlineno__", "__static_attributes__", "__slotnames__"}
    for name in ref_opt.__all__:
        cls = getattr(ref_opt, name)
        assert cls.__mro__[1] is getattr(fastnn.optimizer, name)
        assert set(vars(cls)) <= {"ops", "__module__", "__doc__", "__qualname__",
                                  "__firstlineno__", "__static_attributes__", "__slotnames__"}


def test_nothing_in_the_package_imports_the_book_oracle():
    import pathlib
    root = pathlib.Path(fastnn.__file__).parent
    for path in root.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert "import book_oracle" not in text and "from book_oracle" not in text, path
