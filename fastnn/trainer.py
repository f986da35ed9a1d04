"""The book's ``common/trainer.py``: mini-batch training with per-epoch accuracy.

With only the book's arguments, :class:`Trainer` behaves exactly as the
book's (the same ``np.random`` draws, prints and three lists).  Keyword-only
options add what users of Keras or scikit-learn expect: a progress bar, a
:class:`History` returned by ``train()``, a validation split, early
stopping, epoch-wise sampling without replacement, data augmentation and
learning-rate schedules.
"""
import json
import math
import sys
import time

import numpy as np

from ._backend import get_backend
from ._fileio import atomic_write, jsonable as _jsonable

__all__ = ["np", "Trainer", "make_optimizer", "History", "Augmentation",
           "StepDecay", "ExponentialDecay", "augment_images"]

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


# ---------------------------------------------------------------------------
# History

_METRICS = ("train_loss", "train_acc", "val_loss", "val_acc", "test_loss", "test_acc")


class History:
    """Per-epoch record of a training run, returned by :meth:`Trainer.train`.

    One entry per evaluation point ("epoch") in each list: ``epoch``,
    ``iteration`` (steps done), ``train_loss`` (mean mini-batch loss since
    the previous epoch), ``train_acc``, ``val_loss``/``val_acc`` (empty
    without validation data), ``test_loss``, ``test_acc``, ``lr`` and
    ``epoch_time`` (seconds).  ``final_test_acc`` is the accuracy on the
    whole test set after training (what the book's ``train()`` prints);
    ``stopped_epoch``/``best_epoch``/``best_value`` are set by early
    stopping.  ``history['val_acc']`` and ``history.history`` give the lists
    Keras-style; :meth:`save` writes JSON.
    """

    _LISTS = ("epoch", "iteration") + _METRICS + ("lr", "epoch_time")

    def __init__(self):
        for name in self._LISTS:
            setattr(self, name, [])
        self.final_test_acc = None
        self.stopped_epoch = None
        self.best_epoch = None
        self.best_value = None
        self.monitor = None
        self.total_time = 0.0

    @property
    def history(self):
        """The lists as a dict (metric name -> list), as ``keras.callbacks.History.history``."""
        return {name: list(getattr(self, name)) for name in self._LISTS}

    def __getitem__(self, name):
        if name not in self._LISTS:
            raise KeyError(name)
        return getattr(self, name)

    def __len__(self):
        return len(self.epoch)

    def __repr__(self):
        last = ", ".join("%s=%.4f" % (m, getattr(self, m)[-1]) for m in _METRICS
                         if getattr(self, m) and getattr(self, m)[-1] is not None)
        return "History(%d epochs%s%s)" % (len(self), ", " if last else "", last)

    def to_dict(self):
        d = self.history
        d.update(final_test_acc=self.final_test_acc, stopped_epoch=self.stopped_epoch,
                 best_epoch=self.best_epoch, best_value=self.best_value,
                 monitor=self.monitor, total_time=self.total_time)
        return _jsonable(d)

    @classmethod
    def from_dict(cls, d):
        h = cls()
        for name in cls._LISTS:
            setattr(h, name, list(d.get(name, [])))
        for name in ("final_test_acc", "stopped_epoch", "best_epoch", "best_value",
                     "monitor"):
            setattr(h, name, d.get(name))
        h.total_time = d.get("total_time", 0.0)
        return h

    def save(self, path):
        """Write the history as JSON (atomically)."""
        with atomic_write(path, "w") as fh:
            json.dump(self.to_dict(), fh, indent=1)

    @classmethod
    def load(cls, path):
        with open(path) as fh:
            return cls.from_dict(json.load(fh))


# ---------------------------------------------------------------------------
# Learning-rate schedules

class StepDecay:
    """lr = lr0 · gamma^floor(epoch / step_size) (PyTorch's ``StepLR``)."""

    def __init__(self, step_size=10, gamma=0.1):
        if step_size < 1:
            raise ValueError("step_size must be >= 1, got %r" % (step_size,))
        if gamma <= 0:
            raise ValueError("gamma must be > 0, got %r" % (gamma,))
        self.step_size = step_size
        self.gamma = gamma

    def __call__(self, epoch, base_lr):
        return base_lr * self.gamma ** (epoch // self.step_size)

    def __repr__(self):
        return "StepDecay(step_size=%r, gamma=%r)" % (self.step_size, self.gamma)


class ExponentialDecay:
    """lr = lr0 · gamma^epoch (PyTorch's ``ExponentialLR``)."""

    def __init__(self, gamma=0.95):
        if gamma <= 0:
            raise ValueError("gamma must be > 0, got %r" % (gamma,))
        self.gamma = gamma

    def __call__(self, epoch, base_lr):
        return base_lr * self.gamma ** epoch

    def __repr__(self):
        return "ExponentialDecay(gamma=%r)" % (self.gamma,)


def _make_schedule(spec):
    if spec is None or callable(spec):
        return spec
    if isinstance(spec, str):
        spec = (spec, {})
    if isinstance(spec, (tuple, list)) and len(spec) == 2 and isinstance(spec[0], str):
        name, kw = spec[0].lower(), dict(spec[1])
        if name == "step":
            return StepDecay(**kw)
        if name in ("exponential", "exp"):
            return ExponentialDecay(**kw)
    raise ValueError("lr_schedule must be None, 'step', 'exponential', ('step', {...}), "
                     "a StepDecay/ExponentialDecay or a callable(epoch, base_lr), got %r"
                     % (spec,))


# ---------------------------------------------------------------------------
# Data augmentation

def _image_shape(x, image_shape):
    if x.ndim == 4:
        return x.shape[1:]
    if image_shape is not None:
        return tuple(image_shape)
    side = int(round(math.sqrt(x.shape[1])))
    if x.ndim == 2 and side * side == x.shape[1]:
        return (1, side, side)
    raise ValueError("cannot infer the image shape of a batch of shape %s: pass image_shape"
                     % (x.shape,))


def augment_images(x, rng=np.random, *, image_shape=None, shift=0, hflip=False,
                   crop_padding=0):
    """A randomly augmented copy of the image batch ``x``.

    ``x`` is (N, C, H, W) or flattened (N, C·H·W) (square one-channel images
    are recognised, otherwise give ``image_shape=(C, H, W)``).  Per image:
    ``hflip`` mirrors it left-right with probability 1/2; ``shift=s`` moves
    it by a random whole number of pixels in [-s, s] along each axis,
    filling with zeros; ``crop_padding=p`` zero-pads each side by p and
    crops a random H×W window (both may be combined).  ``rng`` is a
    ``np.random.RandomState`` (or the ``np.random`` module).
    """
    shape = _image_shape(x, image_shape)
    c, h, w = shape
    n = x.shape[0]
    imgs = x.reshape(n, c, h, w)
    out = imgs.copy()
    if hflip:
        flip = rng.rand(n) < 0.5
        out[flip] = out[flip][..., ::-1]
    for pad in (shift, crop_padding):
        pad = int(pad)
        if pad <= 0:
            continue
        padded = np.zeros((n, c, h + 2 * pad, w + 2 * pad), dtype=out.dtype)
        padded[:, :, pad:pad + h, pad:pad + w] = out
        oy = rng.randint(0, 2 * pad + 1, size=n)
        ox = rng.randint(0, 2 * pad + 1, size=n)
        rows = oy[:, None] + np.arange(h)            # (n, h)
        cols = ox[:, None] + np.arange(w)            # (n, w)
        out = padded[np.arange(n)[:, None, None, None], np.arange(c)[None, :, None, None],
                     rows[:, None, :, None], cols[:, None, None, :]]
    return out.reshape(x.shape)


class Augmentation:
    """Random augmentation of image batches for :class:`Trainer` (``augment=``).

    ``Augmentation(shift=2, hflip=True, crop_padding=0, image_shape=None)``;
    see :func:`augment_images`.  A dict with these keys works too.
    """

    def __init__(self, shift=0, hflip=False, crop_padding=0, image_shape=None):
        if shift < 0 or crop_padding < 0:
            raise ValueError("shift and crop_padding must be >= 0")
        self.shift = int(shift)
        self.hflip = bool(hflip)
        self.crop_padding = int(crop_padding)
        self.image_shape = image_shape

    def __call__(self, x, rng=np.random):
        return augment_images(x, rng, image_shape=self.image_shape, shift=self.shift,
                              hflip=self.hflip, crop_padding=self.crop_padding)

    def __repr__(self):
        return ("Augmentation(shift=%r, hflip=%r, crop_padding=%r, image_shape=%r)"
                % (self.shift, self.hflip, self.crop_padding, self.image_shape))


def _make_augment(spec):
    if spec is None or spec is False:
        return None
    if isinstance(spec, dict):
        return Augmentation(**spec)
    if callable(spec):
        return spec
    raise ValueError("augment must be None, a dict, an Augmentation or a callable(x, rng), "
                     "got %r" % (spec,))


# ---------------------------------------------------------------------------
# Evaluation

def _fast_eval_ok(network):
    """True for fastnn's own networks, whose loss and accuracy can share one forward pass."""
    from .multi_layer_net_extend import MultiLayerNetExtend
    cls = type(network)
    return (isinstance(network, MultiLayerNetExtend)
            and cls.accuracy is MultiLayerNetExtend.accuracy
            and cls._predict is MultiLayerNetExtend._predict
            and cls._loss is MultiLayerNetExtend._loss
            and "accuracy" not in vars(network) and "loss" not in vars(network))


def _softmax_loss(scores, t, label_smoothing):
    from .reference.functions import softmax
    y = softmax(np.asarray(scores, dtype=np.float64))
    n, c = y.shape
    if t.ndim != 1:
        t = np.argmax(t, axis=1)
    if label_smoothing:
        target = np.full_like(y, label_smoothing / c)
        target[np.arange(n), t] += 1.0 - label_smoothing
        return float(-np.sum(target * np.log(y + 1e-7)) / n)
    return float(-np.sum(np.log(y[np.arange(n), t] + 1e-7)) / n)


def evaluate(network, x, t):
    """(loss, accuracy) of ``network`` in inference mode on ``x``, ``t``.

    fastnn's networks do one forward pass for both; any other object with
    ``accuracy`` (and optionally ``loss``) is asked for each.
    """
    if _fast_eval_ok(network):
        scores = network._predict(x, False)
        y = np.argmax(scores, axis=1)
        tt = np.argmax(t, axis=1) if t.ndim != 1 else t
        acc = np.sum(y == tt) / float(x.shape[0])
        loss = _softmax_loss(scores, t, getattr(network.last_layer, "label_smoothing", 0.0))
        return loss + float(network.weight_decay_loss()), acc
    acc = network.accuracy(x, t)
    loss = float(network.loss(x, t)) if hasattr(network, "loss") else float("nan")
    return loss, acc


# ---------------------------------------------------------------------------
# Progress output

def _tqdm_or_none():
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm


def _fmt(v):
    return "%.4f" % v if isinstance(v, (float, np.floating)) else str(v)


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

    Keyword-only options (none of them changes anything when left at its
    default):

    ``sampling``
        ``'replacement'`` (the book) or ``'epoch'``: each epoch is one random
        permutation of the training set cut into consecutive batches (the
        last one smaller when the size does not divide), so every sample is
        seen once per epoch; ``iter_per_epoch`` is then ``ceil(n / batch)``.
    ``evaluate_at``
        When the per-epoch evaluation happens: ``'start'`` (the book: after
        the first step of each epoch, so epoch 1 is measured after one
        update) or ``'end'`` (after the last step of each epoch, and after
        the final step).  Default: ``'start'`` with ``sampling='replacement'``,
        ``'end'`` with ``sampling='epoch'``.
    ``validation_split`` / ``validation_data``
        Hold out a shuffled fraction of the training data (drawn with
        ``seed``), or give ``(x_val, t_val)``; validation loss and accuracy
        (on the whole validation set) join the per-epoch record.
    ``early_stopping``, ``monitor``, ``patience``, ``min_delta``, ``restore_best_weights``
        Stop when ``monitor`` (``'val_loss'`` by default; any of
        ``train_loss``, ``train_acc``, ``val_loss``, ``val_acc``,
        ``test_loss``, ``test_acc``; losses are minimised, accuracies
        maximised) has not improved by more than ``min_delta`` for
        ``patience`` evaluations, as Keras' ``EarlyStopping``.  With
        ``restore_best_weights`` (default True) the parameters and batch-norm
        running statistics of the best evaluation are put back when training
        ends.
    ``augment``
        An :class:`Augmentation` (or its keyword dict, e.g.
        ``{'shift': 2, 'hflip': True}``) or a callable ``(x_batch, rng) ->
        x_batch`` applied to each training batch.
    ``lr_schedule``
        ``'step'``, ``'exponential'``, ``('step', {'step_size': 5, 'gamma':
        0.5})``, a :class:`StepDecay`/:class:`ExponentialDecay` or any
        ``callable(epoch, base_lr) -> lr``; sets ``optimizer.lr`` before
        every step from the 0-based epoch number.
    ``seed``
        Seeds a private ``RandomState`` for the validation split, the
        epoch-wise permutations and the augmentation; ``None`` uses the
        global ``np.random`` (the book's mini-batch draws always use it).
    ``progress``
        ``False`` (the book's output, controlled by ``verbose``), ``True``
        (a tqdm bar when tqdm is installed and stderr is a terminal, plain
        per-epoch lines otherwise), ``'bar'`` or ``'lines'``.  With progress
        on, the book's per-step prints are replaced by one line per epoch
        with its time.
    ``history_path``
        Write the :class:`History` there as JSON when ``train()`` ends.

    :meth:`train` returns the :class:`History`; its ``final_test_acc`` is
    the accuracy on the whole test set that the book's ``train()`` prints.
    """

    def __init__(self, network, x_train, t_train, x_test, t_test,
                 epochs=20, mini_batch_size=100,
                 optimizer='SGD', optimizer_param={'lr': 0.01},
                 evaluate_sample_num_per_epoch=None, verbose=True,
                 *, integer_epochs=False, sampling='replacement', evaluate_at=None,
                 validation_split=0.0, validation_data=None,
                 early_stopping=False, monitor='val_loss', patience=5, min_delta=0.0,
                 restore_best_weights=True, augment=None, lr_schedule=None,
                 seed=None, progress=False, history_path=None):
        if len(x_train) != len(t_train):
            raise ValueError("x_train and t_train must have the same length, got %d and %d"
                             % (len(x_train), len(t_train)))
        if len(x_test) != len(t_test):
            raise ValueError("x_test and t_test must have the same length, got %d and %d"
                             % (len(x_test), len(t_test)))
        if int(mini_batch_size) < 1:
            raise ValueError("mini_batch_size must be >= 1, got %r" % (mini_batch_size,))
        if sampling in ("without_replacement", "permutation", "shuffle"):
            sampling = "epoch"
        if sampling not in ("replacement", "epoch"):
            raise ValueError("sampling must be 'replacement' (the book) or 'epoch', got %r"
                             % (sampling,))
        if evaluate_at is None:
            evaluate_at = "start" if sampling == "replacement" else "end"
        if evaluate_at not in ("start", "end"):
            raise ValueError("evaluate_at must be 'start' or 'end', got %r" % (evaluate_at,))
        if not 0.0 <= validation_split < 1.0:
            raise ValueError("validation_split must be in [0, 1), got %r" % (validation_split,))
        if validation_split and validation_data is not None:
            raise ValueError("give validation_split or validation_data, not both")
        if progress not in (False, None, True, "auto", "bar", "lines"):
            raise ValueError("progress must be False, True, 'bar' or 'lines', got %r"
                             % (progress,))

        self.network = network
        self.verbose = verbose
        self.rng = np.random if seed is None else np.random.RandomState(seed)
        self.seed = seed

        self.x_val = self.t_val = None
        if validation_split:
            n = len(x_train)
            n_val = int(round(n * validation_split))
            if not 1 <= n_val < n:
                raise ValueError("validation_split=%r leaves %d of %d samples for validation"
                                 % (validation_split, n_val, n))
            perm = self.rng.permutation(n)
            val_idx, train_idx = perm[:n_val], perm[n_val:]
            self.x_val, self.t_val = x_train[val_idx], t_train[val_idx]
            x_train, t_train = x_train[train_idx], t_train[train_idx]
        elif validation_data is not None:
            self.x_val, self.t_val = validation_data
            if len(self.x_val) != len(self.t_val):
                raise ValueError("validation_data: x and t lengths differ (%d, %d)"
                                 % (len(self.x_val), len(self.t_val)))

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
        self.sampling = sampling
        self.evaluate_at = evaluate_at
        if sampling == "epoch" or integer_epochs:
            self.iter_per_epoch = max(math.ceil(self.train_size / mini_batch_size), 1)
        else:
            self.iter_per_epoch = max(self.train_size / mini_batch_size, 1)
        self.max_iter = int(epochs * self.iter_per_epoch)
        self.current_iter = 0
        self.current_epoch = 0

        self.train_loss_list = []
        self.train_acc_list = []
        self.test_acc_list = []

        # Options beyond the book.
        self.augment = _make_augment(augment)
        self.lr_schedule = _make_schedule(lr_schedule)
        self.base_lr = getattr(self.optimizer, "lr", None)
        if self.lr_schedule is not None and self.base_lr is None:
            raise ValueError("lr_schedule needs an optimizer with an 'lr' attribute")
        self.early_stopping = bool(early_stopping)
        self.monitor = monitor
        if self.early_stopping:
            if monitor not in _METRICS:
                raise ValueError("monitor must be one of %s, got %r" % (_METRICS, monitor))
            if monitor.startswith("val_") and self.x_val is None:
                raise ValueError("early stopping on %r needs validation_split or "
                                 "validation_data" % (monitor,))
            if patience < 1:
                raise ValueError("patience must be >= 1, got %r" % (patience,))
        self.patience = patience
        self.min_delta = abs(min_delta)
        self.restore_best_weights = restore_best_weights
        self.progress = progress
        self.history_path = history_path

        self.history = History()
        self.history.monitor = monitor if self.early_stopping else None
        self.stop_training = False
        self._best_state = None
        self._wait = 0
        self._perm = None
        self._perm_pos = 0
        self._epoch_losses = []
        self._epoch_t0 = None
        self._bar = None
        self._lines = False

    # -- one step ----------------------------------------------------------
    def _next_batch(self):
        if self.sampling == "replacement":
            return np.random.choice(self.train_size, self.batch_size)
        if self._perm is None or self._perm_pos >= self.train_size:
            self._perm = self.rng.permutation(self.train_size)
            self._perm_pos = 0
        batch = self._perm[self._perm_pos:self._perm_pos + self.batch_size]
        self._perm_pos += self.batch_size
        return batch

    def _epoch_due(self):
        i = self.current_iter
        if self.evaluate_at == "start":
            return i % self.iter_per_epoch == 0
        ipe = self.iter_per_epoch
        return int((i + 1) // ipe) > int(i // ipe) or i + 1 == self.max_iter

    def train_step(self):
        if self._epoch_t0 is None:
            self._epoch_t0 = time.perf_counter()
        if self.lr_schedule is not None:
            self.optimizer.lr = self.lr_schedule(int(self.current_iter // self.iter_per_epoch),
                                                 self.base_lr)
        batch_mask = self._next_batch()
        x_batch = self.x_train[batch_mask]
        t_batch = self.t_train[batch_mask]
        if self.augment is not None:
            x_batch = self.augment(x_batch, self.rng)

        grads = self.network.gradient(x_batch, t_batch)
        self.optimizer.update(self.network.params, grads)

        loss = self.network.loss(x_batch, t_batch)
        self.train_loss_list.append(loss)
        self._epoch_losses.append(float(loss))
        quiet = bool(self.progress)
        if self.verbose and not quiet:
            print("train loss:" + str(loss))

        if self._epoch_due():
            self.current_epoch += 1
            x_train_sample, t_train_sample = self.x_train, self.t_train
            x_test_sample, t_test_sample = self.x_test, self.t_test
            if self.evaluate_sample_num_per_epoch is not None:
                n = self.evaluate_sample_num_per_epoch
                x_train_sample, t_train_sample = self.x_train[:n], self.t_train[:n]
                x_test_sample, t_test_sample = self.x_test[:n], self.t_test[:n]
            if _fast_eval_ok(self.network):
                _, train_acc = evaluate(self.network, x_train_sample, t_train_sample)
                test_loss, test_acc = evaluate(self.network, x_test_sample, t_test_sample)
            else:
                train_acc = self.network.accuracy(x_train_sample, t_train_sample)
                test_acc = self.network.accuracy(x_test_sample, t_test_sample)
                rng_state = np.random.get_state()  # a loss with dropout (DeepConvNet) draws masks:
                test_loss = (float(self.network.loss(x_test_sample, t_test_sample))
                             if hasattr(self.network, "loss") else None)
                np.random.set_state(rng_state)     # keep the book's random stream
            self.train_acc_list.append(train_acc)
            self.test_acc_list.append(test_acc)
            if self.verbose and not quiet:
                print("=== epoch:" + str(self.current_epoch) + ", train acc:" + str(train_acc)
                      + ", test acc:" + str(test_acc) + " ===")
            self._record_epoch(train_acc, test_loss, test_acc)
        self.current_iter += 1

    def _record_epoch(self, train_acc, test_loss, test_acc):
        now = time.perf_counter()
        h = self.history
        h.epoch.append(self.current_epoch)
        h.iteration.append(self.current_iter + 1)
        h.train_loss.append(float(np.mean(self._epoch_losses)) if self._epoch_losses else None)
        h.train_acc.append(float(train_acc))
        h.test_loss.append(test_loss)
        h.test_acc.append(float(test_acc))
        if self.x_val is not None:
            val_loss, val_acc = evaluate(self.network, self.x_val, self.t_val)
            h.val_loss.append(float(val_loss))
            h.val_acc.append(float(val_acc))
        lr = getattr(self.optimizer, "lr", None)
        h.lr.append(float(lr) if lr is not None else None)
        h.epoch_time.append(now - self._epoch_t0)
        self._epoch_losses = []
        if self.progress:
            self._log_epoch()
        self._epoch_t0 = time.perf_counter()
        if self.early_stopping:
            self._check_early_stopping()

    def _log_epoch(self):
        h = self.history
        parts = ["epoch %d/%d" % (h.epoch[-1], self.epochs)]
        for name in _METRICS:
            values = getattr(h, name)
            if values and values[-1] is not None:
                parts.append("%s %s" % (name.replace("_", " "), _fmt(values[-1])))
        parts.append("%.2fs" % h.epoch_time[-1])
        line = "  ".join(parts)
        if self._bar is not None:
            self._bar.write(line)
        else:
            print(line, flush=True)

    def _check_early_stopping(self):
        from .serialization import network_state
        h = self.history
        value = getattr(h, self.monitor)[-1]
        if value is None:
            return
        minimise = self.monitor.endswith("loss")
        best = h.best_value
        improved = (best is None or (value < best - self.min_delta if minimise
                                     else value > best + self.min_delta))
        if improved:
            h.best_value = float(value)
            h.best_epoch = h.epoch[-1]
            self._wait = 0
            if self.restore_best_weights:
                self._best_state = network_state(self.network)
        else:
            self._wait += 1
            if self._wait >= self.patience:
                self.stop_training = True
                h.stopped_epoch = h.epoch[-1]

    # -- the whole run -----------------------------------------------------
    def _open_progress(self):
        self._bar = None
        if not self.progress:
            return
        want_bar = self.progress in (True, "auto", "bar")
        tqdm = _tqdm_or_none() if want_bar else None
        isatty = getattr(sys.stderr, "isatty", lambda: False)()
        if tqdm is not None and (self.progress == "bar" or isatty):
            self._bar = tqdm(total=self.max_iter, unit="step", leave=False)

    def train(self):
        """Run all steps (or until early stopping) and return the :class:`History`."""
        t0 = time.perf_counter()
        self._open_progress()
        try:
            for _ in range(self.max_iter):          # the book's loop: max_iter more steps
                if self.stop_training:
                    break
                self.train_step()
                if self._bar is not None:
                    self._bar.update(1)
                    if self.history.epoch and self.history.iteration[-1] == self.current_iter:
                        self._bar.set_postfix(epoch=self.history.epoch[-1],
                                              loss="%.4f" % self._last_loss())
        finally:
            if self._bar is not None:
                self._bar.close()
                self._bar = None
        if self.early_stopping and self.restore_best_weights and self._best_state is not None:
            from .serialization import load_network_state
            load_network_state(self.network, self._best_state)
        test_acc = self.network.accuracy(self.x_test, self.t_test)
        if self.verbose and not self.progress:
            print("=============== Final Test Accuracy ===============")
            print("test acc:" + str(test_acc))
        h = self.history
        h.final_test_acc = float(test_acc)
        h.total_time = time.perf_counter() - t0
        if self.progress:
            msg = "final test acc %.4f, %.2fs" % (test_acc, h.total_time)
            if h.stopped_epoch is not None:
                msg += " (early stop at epoch %d, best epoch %d)" % (h.stopped_epoch,
                                                                    h.best_epoch)
            print(msg, flush=True)
        if self.history_path is not None:
            h.save(self.history_path)
        return h

    def _last_loss(self):
        return float(self.train_loss_list[-1]) if self.train_loss_list else float("nan")
