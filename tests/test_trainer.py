"""The book's Trainer: list lengths, its epoch quirk, and real learning on Fashion-MNIST."""
import os

import numpy as np
import pytest

from fastnn.multi_layer_net import MultiLayerNet
from fastnn.multi_layer_net_extend import MultiLayerNetExtend
from fastnn.trainer import Trainer

from _util import FASHION_DIR


def _data(n, d=8, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, d)), rng.integers(0, classes, n)


@pytest.mark.parametrize("backend", ["reference", "fast"])
def test_lists_have_the_books_lengths(backend, capsys):
    x, t = _data(300)
    np.random.seed(0)
    net = MultiLayerNet(8, [6], 3, backend=backend)
    tr = Trainer(net, x, t, x[:50], t[:50], epochs=3, mini_batch_size=100,
                 optimizer='sgd', optimizer_param={'lr': 0.1}, verbose=True)
    tr.train()
    assert tr.max_iter == 9
    assert len(tr.train_loss_list) == 9
    assert len(tr.train_acc_list) == len(tr.test_acc_list) == 3
    out = capsys.readouterr().out
    assert out.count("train loss:") == 9 and out.count("=== epoch:") == 3
    assert "Final Test Accuracy" in out


def test_float_iter_per_epoch_quirk_is_kept_and_fixable():
    x, t = _data(250)
    np.random.seed(0)
    net = MultiLayerNet(8, [6], 3)
    book = Trainer(net, x, t, x, t, epochs=3, mini_batch_size=100, verbose=False)
    assert book.iter_per_epoch == 2.5 and book.max_iter == 7
    book.train()
    assert len(book.train_acc_list) == 2        # iterations 0 and 5 only
    fixed = Trainer(net, x, t, x, t, epochs=3, mini_batch_size=100, verbose=False,
                    integer_epochs=True)
    assert fixed.iter_per_epoch == 3 and fixed.max_iter == 9
    fixed.train()
    assert len(fixed.train_acc_list) == 3


@pytest.mark.parametrize("name", ["sgd", "SGD", "momentum", "nesterov", "adagrad",
                                  "rmsprop", "rmsprpo", "adam"])
def test_optimizer_names_including_the_books_typo(name):
    x, t = _data(20)
    net = MultiLayerNet(8, [4], 3)
    tr = Trainer(net, x, t, x, t, epochs=1, mini_batch_size=10, optimizer=name,
                 optimizer_param={'lr': 0.01}, verbose=False)
    want = {"rmsprpo": "rmsprop"}.get(name.lower(), name.lower())
    assert type(tr.optimizer).__name__.lower() == want


def test_seeded_training_is_reproducible_across_backends():
    """Same seed, same batches and masks: the reference and fast runs agree."""
    x, t = _data(400, d=10, classes=4)
    lists = []
    for backend in ["reference", "fast"]:
        np.random.seed(42)
        net = MultiLayerNetExtend(10, [8, 8], 4, use_batchnorm=True, use_dropout=True,
                                  dropout_ration=0.2, weight_decay_lambda=0.01,
                                  backend=backend)
        tr = Trainer(net, x, t, x, t, epochs=2, mini_batch_size=50, optimizer='adam',
                     optimizer_param={'lr': 0.01}, verbose=False)
        tr.train()
        lists.append(np.array(tr.train_loss_list))
    np.testing.assert_allclose(lists[0], lists[1], rtol=1e-9)


@pytest.mark.e2e
@pytest.mark.skipif(not os.path.isdir(FASHION_DIR),
                    reason="real Fashion-MNIST needs `apt-get install dataset-fashion-mnist`")
def test_one_epoch_on_fashion_mnist_learns():
    from fastnn.datasets import load_fashion_mnist
    (x_train, t_train), (x_test, t_test) = load_fashion_mnist()
    np.random.seed(0)
    net = MultiLayerNetExtend(784, [100] * 5, 10, use_batchnorm=True, use_dropout=True,
                              dropout_ration=0.2)
    tr = Trainer(net, x_train, t_train, x_test, t_test, epochs=1, mini_batch_size=100,
                 optimizer='adam', verbose=False)
    tr.train()
    assert tr.max_iter == 600
    assert net.accuracy(x_test, t_test) >= 0.75
