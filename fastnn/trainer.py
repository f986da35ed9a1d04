"""The book's ``common/trainer.py``: mini-batch training with per-epoch accuracy."""
import math

import numpy as np

from ._backend import get_backend

__all__ = ["np", "Trainer", "make_optimizer"]

# The book's table, including its misspelled key 'rmsprpo' (scripts may use it).
_OPTIMIZER_NAMES = {'sgd': 'SGD', 'momentum': 'Momentum', 'nesterov': 'Nesterov',
                    'adagrad': 'AdaGrad', 'rmsprop': 'RMSprop', 'rmsprpo': 'RMSprop',
                    'adam': 'Adam'}


def make_optimizer(optimizer, optimizer_param=None, backend=None):
    """An optimizer from a name ('sgd', 'adam', ...) and its parameters, or ``optimizer`` itself
    when it already has an ``update`` method."""
    if hasattr(optimizer, "update"):
        return optimizer
    if not isinstance(optimizer, str) or optimizer.lower() not in _OPTIMIZER_NAMES:
        raise ValueError("optimizer must be one of %s or an object with update(), got %r"
                         % (sorted(set(_OPTIMIZER_NAMES) - {'rmsprpo'}), optimizer))
    cls = getattr(get_backend(backend).optimizer, _OPTIMIZER_NAMES[optimizer.lower()])
    return cls(**(optimizer_param or {}))


class Trainer:
    """Train ``network`` with mini-batches drawn with replacement, as the book does.

    Every step draws ``mini_batch_size`` indices with ``np.random.choice``,
    computes the gradient, updates the parameters and records the loss of
    the updated network on that batch.  Once per "epoch" it records train and
    test accuracy (on the first ``evaluate_sample_num_per_epoch`` samples if
    given).

    The book computes ``iter_per_epoch = train_size / mini_batch_size`` as a
    float, so when the division is not exact the epoch test
    ``iter % iter_per_epoch == 0`` rarely fires.  That stays the default;
    ``integer_epochs=True`` rounds ``iter_per_epoch`` up to an int instead.
    """

    def __init__(self, network, x_train, t_train, x_test, t_test,
                 epochs=20, mini_batch_size=100,
                 optimizer='SGD', optimizer_param={'lr': 0.01},
                 evaluate_sample_num_per_epoch=None, verbose=True,
                 *, integer_epochs=False):
        if len(x_train) != len(t_train):
            raise ValueError("x_train and t_train must have the same length, got %d and %d"
                             % (len(x_train), len(t_train)))
        if len(x_test) != len(t_test):
            raise ValueError("x_test and t_test must have the same length, got %d and %d"
                             % (len(x_test), len(t_test)))
        if int(mini_batch_size) < 1:
            raise ValueError("mini_batch_size must be >= 1, got %r" % (mini_batch_size,))
        self.network = network
        self.verbose = verbose
        self.x_train = x_train
        self.t_train = t_train
        self.x_test = x_test
        self.t_test = t_test
        self.epochs = epochs
        self.batch_size = mini_batch_size
        self.evaluate_sample_num_per_epoch = evaluate_sample_num_per_epoch

        self.optimizer = make_optimizer(optimizer, optimizer_param,
                                        getattr(network, "backend", None))

        self.train_size = x_train.shape[0]
        if integer_epochs:
            self.iter_per_epoch = max(math.ceil(self.train_size / mini_batch_size), 1)
        else:
            self.iter_per_epoch = max(self.train_size / mini_batch_size, 1)
        self.max_iter = int(epochs * self.iter_per_epoch)
        self.current_iter = 0
        self.current_epoch = 0

        self.train_loss_list = []
        self.train_acc_list = []
        self.test_acc_list = []

    def train_step(self):
        batch_mask = np.random.choice(self.train_size, self.batch_size)
        x_batch = self.x_train[batch_mask]
        t_batch = self.t_train[batch_mask]

        grads = self.network.gradient(x_batch, t_batch)
        self.optimizer.update(self.network.params, grads)

        loss = self.network.loss(x_batch, t_batch)
        self.train_loss_list.append(loss)
        if self.verbose:
            print("train loss:" + str(loss))

        if self.current_iter % self.iter_per_epoch == 0:
            self.current_epoch += 1
            x_train_sample, t_train_sample = self.x_train, self.t_train
            x_test_sample, t_test_sample = self.x_test, self.t_test
            if self.evaluate_sample_num_per_epoch is not None:
                n = self.evaluate_sample_num_per_epoch
                x_train_sample, t_train_sample = self.x_train[:n], self.t_train[:n]
                x_test_sample, t_test_sample = self.x_test[:n], self.t_test[:n]
            train_acc = self.network.accuracy(x_train_sample, t_train_sample)
            test_acc = self.network.accuracy(x_test_sample, t_test_sample)
            self.train_acc_list.append(train_acc)
            self.test_acc_list.append(test_acc)
            if self.verbose:
                print("=== epoch:" + str(self.current_epoch) + ", train acc:" + str(train_acc)
                      + ", test acc:" + str(test_acc) + " ===")
        self.current_iter += 1

    def train(self):
        for _ in range(self.max_iter):
            self.train_step()
        test_acc = self.network.accuracy(self.x_test, self.t_test)
        if self.verbose:
            print("=============== Final Test Accuracy ===============")
            print("test acc:" + str(test_acc))
        return test_acc
