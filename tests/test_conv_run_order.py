"""Pooling before ReLU on the compiled backend: the same numbers to the bit.

``ConvNetBase._run_order`` runs a Relu directly followed by a Pooling the
other way round; max pooling and ReLU commute exactly, so loss, predictions
and every gradient must equal the book's order bit for bit, NaN, negative
windows and ties included.
"""
import numpy as np
import pytest

from fastnn.deep_convnet import DeepConvNet
from fastnn.simple_convnet import SimpleConvNet


def _run(make, x, t, swapped):
    np.random.seed(0)
    net = make()
    net.pool_before_relu = swapped
    state = np.random.get_state()
    loss = net.loss(x, t)
    np.random.set_state(state)
    grads = {k: v.copy() for k, v in net.gradient(x, t).items()}
    return loss, net.predict(x), grads, net


@pytest.mark.parametrize("make", [
    lambda: SimpleConvNet(input_dim=(1, 10, 10), conv_param={'filter_num': 4, 'filter_size': 3,
                                                               'pad': 0, 'stride': 1},
                          hidden_size=6, weight_init_std=0.5),
    lambda: DeepConvNet(dtype=np.float32),
], ids=["simple", "deep-f32"])
@pytest.mark.parametrize("kind", ["random", "ties", "nan"])
def test_swapped_order_is_bit_identical(make, kind):
    rng = np.random.default_rng(3)
    shape = (4, 1, 10, 10) if make().input_dim[1] == 10 else (3, 1, 28, 28)
    x = rng.standard_normal(shape)
    if kind == "ties":          # whole windows <= 0 and repeated maxima
        x = np.round(x) - 1.0
    if kind == "nan":
        x[0, 0, 3, 4] = np.nan
    x = x.astype(make().dtype)
    t = rng.integers(0, 10, shape[0])
    book = _run(make, x, t, False)
    ours = _run(make, x, t, True)
    assert ours[3]._run_order() != ours[3]._layer_list()      # the swap happened
    np.testing.assert_array_equal(ours[0], book[0])
    np.testing.assert_array_equal(ours[1], book[1])
    for key in book[2]:
        np.testing.assert_array_equal(ours[2][key], book[2][key], err_msg=key)


def test_reference_backend_keeps_the_books_order():
    net = SimpleConvNet(backend="reference")
    assert net._run_order() == net._layer_list()


def test_trainer_evaluates_every_sample_of_a_convnet():
    """The book's convnet ``accuracy`` skips a last partial batch of 100 but
    counts it; the Trainer's evaluation predicts every sample (and agrees
    with the book on sizes that are multiples of 100)."""
    from fastnn.trainer.loop import evaluate
    rng = np.random.default_rng(0)
    np.random.seed(0)
    net = SimpleConvNet(input_dim=(1, 10, 10), conv_param={'filter_num': 4, 'filter_size': 3,
                                                            'pad': 0, 'stride': 1},
                        hidden_size=6, weight_init_std=0.5)
    x = rng.standard_normal((150, 1, 10, 10))
    t = rng.integers(0, 10, 150)
    loss, acc = evaluate(net, x, t)
    want = np.mean(np.argmax(net.predict(x), axis=1) == t)
    assert acc == pytest.approx(want)
    assert acc != pytest.approx(net.accuracy(x, t))        # the book's quirk
    assert loss == pytest.approx(net.loss(x, t))           # SimpleConvNet: inference mode
    assert evaluate(net, x[:100], t[:100])[1] == pytest.approx(net.accuracy(x[:100], t[:100]))
