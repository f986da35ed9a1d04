"""The one training loop: a function of a network, an optimizer and mini-batches.

Everything that trains a network in fastnn goes through :func:`train_step`
(gradient, update, loss of the updated network on the batch): the
:class:`~fastnn.trainer.Trainer`, the experiments' side-by-side runs,
``fastnn train`` and the search objective (through :func:`fit`).
:func:`random_batches` draws mini-batches the book's way, with replacement
from ``np.random``, lazily, so the draws interleave with the dropout masks
exactly as in the book's loops.
"""
import numpy as np

from .._backend import get_backend

__all__ = ["train_step", "fit", "random_batches", "make_optimizer", "evaluate"]

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


def train_step(network, optimizer, x, t, *, loss=True):
    """One update of ``network`` on the batch ``(x, t)``; returns the loss of the updated
    network on that batch (as the book's Trainer records it), or None with ``loss=False``."""
    grads = network.gradient(x, t)
    optimizer.update(network.params, grads)
    return network.loss(x, t) if loss else None


def fit(network, optimizer, batches, *, loss=False):
    """Train on every ``(x, t)`` of the iterable ``batches``; returns the list of
    per-step losses with ``loss=True`` (else an empty list: no extra forward pass)."""
    losses = []
    for x, t in batches:
        value = train_step(network, optimizer, x, t, loss=loss)
        if loss:
            losses.append(value)
    return losses


def random_batches(x, t, batch_size, steps, rng=np.random):
    """``steps`` mini-batches of ``batch_size`` drawn with replacement, one
    ``rng.choice(len(x), batch_size)`` per batch as the book draws them (lazily)."""
    n = len(x)
    for _ in range(steps):
        mask = rng.choice(n, batch_size)
        yield x[mask], t[mask]


# ---------------------------------------------------------------------------
# Evaluation

def _fast_eval_ok(network):
    """True for fastnn's own networks, whose loss and accuracy can share one forward pass."""
    from ..multi_layer_net_extend import MultiLayerNetExtend
    cls = type(network)
    return (isinstance(network, MultiLayerNetExtend)
            and cls.accuracy is MultiLayerNetExtend.accuracy
            and cls._predict is MultiLayerNetExtend._predict
            and cls._loss is MultiLayerNetExtend._loss
            and "accuracy" not in vars(network) and "loss" not in vars(network))


def _conv_eval_ok(network):
    """True for fastnn's convnets, evaluated in batches of ``EVAL_BATCH``."""
    from .._convnet import ConvNetBase
    cls = type(network)
    return (isinstance(network, ConvNetBase)
            and cls.accuracy is ConvNetBase.accuracy
            and cls._predict is ConvNetBase._predict
            and "accuracy" not in vars(network) and "_predict" not in vars(network))


# Samples per forward pass when a convnet is evaluated (the book's
# ``accuracy`` batch): a whole test set at once would hold gigabytes of
# DeepConvNet activations.
EVAL_BATCH = 100


def _softmax_loss(scores, t, label_smoothing):
    """The mean softmax cross-entropy of ``scores`` in float64: the book's layer,
    used here as a function (a fresh reference layer, so no network state changes)."""
    from ..reference.layers import SoftmaxWithLoss
    layer = SoftmaxWithLoss(label_smoothing=label_smoothing or 0.0)
    return float(layer.forward(np.asarray(scores, dtype=np.float64), t))


def evaluate(network, x, t):
    """(loss, accuracy) of ``network`` in inference mode on ``x``, ``t``.

    fastnn's networks do one forward pass for both (the convnets in batches
    of ``EVAL_BATCH``, every sample counted); any other object with
    ``accuracy`` (and optionally ``loss``) is asked for each.
    """
    conv = len(x) and _conv_eval_ok(network)
    if conv or _fast_eval_ok(network):
        if conv:
            # Every sample, the last partial batch too: the book's convnet
            # ``accuracy`` skips that batch but counts it in the denominator,
            # which under-reports a set whose size is not a multiple of 100
            # (on multiples of 100 the two agree).  The loss is in inference
            # mode (DeepConvNet's own ``loss`` runs dropout, as in training).
            scores = np.concatenate([network._predict(x[i:i + EVAL_BATCH], False)
                                     for i in range(0, len(x), EVAL_BATCH)])
        else:
            scores = network._predict(x, False)
        y = np.argmax(scores, axis=1)
        tt = np.argmax(t, axis=1) if t.ndim != 1 else t
        acc = np.sum(y == tt) / float(x.shape[0])
        loss = _softmax_loss(scores, t, getattr(network.last_layer, "label_smoothing", 0.0))
        decay = 0.0 if conv else float(network.weight_decay_loss())
        return loss + decay, acc
    acc = network.accuracy(x, t)
    loss = float(network.loss(x, t)) if hasattr(network, "loss") else float("nan")
    return loss, acc
