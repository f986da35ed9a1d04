"""Ready-made objectives: the book's network trained on a validation split or k folds.

``mlp_objective(x_train, t_train, x_val, t_val)`` is the objective of the
book's ``hyperparameter_optimization.py``: ``MultiLayerNet(784, [100]*6, 10,
weight_decay_lambda=wd)`` trained with SGD(lr) on mini-batches of 100 drawn
with replacement for 50 epochs, scored by validation accuracy.  It is
written as a loop over ``network.gradient`` and ``optimizer.update`` rather
than the book's Trainer: the same seeded draws (weights, then one
``np.random.choice`` mini-batch per step) train the same network, without
the Trainer's per-step loss and per-epoch training-set accuracy, which the
search does not use.  One difference: the book's Trainer records its last
validation accuracy after update 197 of 200 (its epoch test fires at
iterations 0, 4, ..., 196); here every epoch ends after its 4 updates, so the
score is measured after all 200.
"""
import math

import numpy as np

from ._trial import TrialPruned

__all__ = ["validation_split", "stratified_kfold", "mlp_objective", "MLPObjective",
           "DatasetMLPObjective"]

_OPTIMIZER_KEYS = ("momentum", "beta1", "beta2", "decay_rate")


def validation_split(x, t, val_ratio=0.2, seed=0):
    """The book's split: shuffle (seeded), then the first ``val_ratio`` of the data is the
    validation set.  Returns ``(x_train, t_train), (x_val, t_val)``."""
    x = np.asarray(x)
    t = np.asarray(t)
    if len(x) != len(t):
        raise ValueError("x and t must have the same length, got %d and %d" % (len(x), len(t)))
    if not 0.0 < val_ratio < 1.0:
        raise ValueError("val_ratio must be in (0, 1), got %r" % (val_ratio,))
    n_val = int(len(x) * val_ratio)
    if n_val < 1 or n_val >= len(x):
        raise ValueError("val_ratio=%r of %d samples leaves an empty set" % (val_ratio, len(x)))
    perm = np.random.RandomState(seed).permutation(len(x))
    x, t = x[perm], t[perm]
    return (x[n_val:], t[n_val:]), (x[:n_val], t[:n_val])


def stratified_kfold(t, k, seed=0):
    """``k`` (train_index, val_index) pairs; each class is spread evenly over the folds
    (shuffled with ``seed``), every sample is in exactly one validation fold."""
    t = np.asarray(t)
    labels = t.argmax(axis=1) if t.ndim == 2 else t
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 2:
        raise ValueError("cv must be an int >= 2, got %r" % (k,))
    if k > len(labels):
        raise ValueError("cv=%d folds need at least %d samples, got %d" % (k, k, len(labels)))
    rng = np.random.RandomState(seed)
    fold = np.empty(len(labels), dtype=np.int64)
    start = 0
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        idx = idx[rng.permutation(len(idx))]
        # continue the round-robin where the previous class stopped, so folds stay balanced
        fold[idx] = (start + np.arange(len(idx))) % k
        start = (start + len(idx)) % k
    out = []
    for f in range(k):
        out.append((np.flatnonzero(fold != f), np.flatnonzero(fold == f)))
    return out


class MLPObjective:
    """``objective(params, trial)`` training the book's MultiLayerNet; see :func:`mlp_objective`."""

    def __init__(self, x_train, t_train, x_val=None, t_val=None, *, epochs=50, hidden=(100,) * 6,
                 batch_size=100, optimizer="sgd", backend=None, dtype=np.float64,
                 activation="relu", weight_init_std="relu", use_batchnorm=False,
                 use_dropout=False, dropout_ratio=0.5, cv=None, cv_seed=0):
        if len(x_train) != len(t_train):
            raise ValueError("x_train and t_train must have the same length")
        if cv is None and (x_val is None or t_val is None):
            raise ValueError("give x_val and t_val, or cv=k for k-fold cross-validation")
        if cv is not None and x_val is not None:
            raise ValueError("cv=k splits x_train itself: do not also give x_val")
        if int(epochs) < 1 or int(batch_size) < 1:
            raise ValueError("epochs and batch_size must be >= 1")
        self.dtype = np.dtype(dtype)
        self.x_train = np.ascontiguousarray(x_train, dtype=self.dtype)
        self.t_train = np.asarray(t_train)
        self.x_val = None if x_val is None else np.ascontiguousarray(x_val, dtype=self.dtype)
        self.t_val = None if t_val is None else np.asarray(t_val)
        self.epochs = int(epochs)
        self.hidden = [int(h) for h in hidden]
        self.batch_size = int(batch_size)
        self.optimizer = optimizer
        self.backend = backend
        self.activation = activation
        self.weight_init_std = weight_init_std
        self.use_batchnorm = use_batchnorm
        self.use_dropout = use_dropout
        self.dropout_ratio = dropout_ratio
        self.cv = cv
        self.folds = None if cv is None else stratified_kfold(self.t_train, cv, cv_seed)
        self.n_out = (int(self.t_train.shape[1]) if self.t_train.ndim == 2
                      else int(np.max(self.t_train)) + 1)

    def _network(self, params):
        wd = float(params.get("weight_decay", 0.0))
        kw = dict(activation=self.activation, weight_init_std=self.weight_init_std,
                  weight_decay_lambda=wd, backend=self.backend, dtype=self.dtype)
        hidden = self.hidden
        if "hidden" in params or "layers" in params:
            # 'hidden': one width for every hidden layer; 'layers': how many hidden layers
            # (of the first width of ``hidden`` unless 'hidden' is searched too)
            hidden = [int(params.get("hidden", (self.hidden or [100])[0]))] * int(
                params.get("layers", len(self.hidden)))
        if self.use_batchnorm or self.use_dropout or "dropout" in params:
            from ..multi_layer_net_extend import MultiLayerNetExtend
            ratio = float(params.get("dropout", self.dropout_ratio))
            return MultiLayerNetExtend(self.x_train.shape[1], hidden, self.n_out,
                                       use_batchnorm=self.use_batchnorm,
                                       use_dropout=self.use_dropout or "dropout" in params,
                                       dropout_ration=ratio, **kw)
        from ..multi_layer_net import MultiLayerNet
        return MultiLayerNet(self.x_train.shape[1], hidden, self.n_out, **kw)

    def _optimizer(self, params, net):
        from ..trainer import make_optimizer
        opt_params = {"lr": float(params["lr"])}
        for k in _OPTIMIZER_KEYS:
            if k in params:
                opt_params[k] = float(params[k])
        return make_optimizer(params.get("optimizer", self.optimizer), opt_params, net.backend)

    def __call__(self, params, trial):
        if "lr" not in params:
            raise KeyError("mlp_objective needs an 'lr' parameter in the search space")
        np.random.seed(trial.seed if getattr(trial, "seed", None) is not None else 0)
        batch = int(params.get("batch_size", self.batch_size))
        if self.folds is None:
            runs = [(self.x_train, self.t_train, self.x_val, self.t_val)]
        else:
            runs = [(self.x_train[tr], self.t_train[tr], self.x_train[va], self.t_train[va])
                    for tr, va in self.folds]
        models = []
        for x, t, xv, tv in runs:
            net = self._network(params)
            models.append((net, self._optimizer(params, net), x, t, xv, tv))
        from ..trainer.loop import fit, random_batches
        scores = None
        for epoch in range(1, self.epochs + 1):
            scores = []
            for net, opt, x, t, xv, tv in models:
                fit(net, opt, random_batches(x, t, batch, max(math.ceil(len(x) / batch), 1)))
                scores.append(float(net.accuracy(xv, tv)))
            score = float(np.mean(scores))
            trial.report(score, epoch)
            if trial.should_prune():
                raise TrialPruned("pruned at epoch %d (validation accuracy %.4f)"
                                  % (epoch, score))
        if self.folds is not None:
            trial.set_user_attr("cv_scores", scores)
            trial.set_user_attr("cv_std", float(np.std(scores)))
        return score


def mlp_objective(x_train, t_train, x_val=None, t_val=None, *, epochs=50, hidden=(100,) * 6,
                  batch_size=100, optimizer="sgd", backend=None, dtype=np.float64, cv=None,
                  cv_seed=0, **network_kw):
    """The objective of the book's search: trains ``MultiLayerNet(784, hidden, 10,
    weight_decay_lambda=params['weight_decay'])`` with ``optimizer(lr=params['lr'])`` for
    ``epochs`` epochs of mini-batches of ``batch_size`` (drawn with replacement, as the book),
    reports the validation accuracy every epoch and returns the last one.

    The space may also hold 'batch_size', 'hidden' (one width for every layer), 'layers' (the
    number of hidden layers), 'dropout', 'optimizer', 'momentum', 'beta1', 'beta2',
    'decay_rate' (RMSprop).  cv=k: no validation set; k stratified folds
    of ``x_train`` (seeded by ``cv_seed``) are trained side by side, each epoch reports the mean
    accuracy over folds, and the trial records ``cv_scores`` and their spread ``cv_std``.
    The trial's ``seed`` seeds NumPy's global generator (weights and mini-batches, as the
    book's scripts use it), so a trial trains the same network on any worker.
    ``backend``/``dtype`` and other keywords go to the network.  The returned object pickles
    (for worker processes) with its data.
    """
    return MLPObjective(x_train, t_train, x_val, t_val, epochs=epochs, hidden=hidden,
                        batch_size=batch_size, optimizer=optimizer, backend=backend, dtype=dtype,
                        cv=cv, cv_seed=cv_seed, **network_kw)


class DatasetMLPObjective:
    """An :class:`MLPObjective` whose data is loaded in the process that runs it (once per
    worker): ``load_dataset(dataset)``, the first ``train_size`` training images, then the
    book's validation split (or ``cv`` folds).  Small to pickle, so workers start fast."""

    def __init__(self, dataset="fashion-mnist", train_size=500, val_ratio=0.2, split_seed=0,
                 **kwargs):
        self.dataset = dataset
        self.train_size = train_size
        self.val_ratio = val_ratio
        self.split_seed = split_seed
        self.kwargs = kwargs
        self._objective = None

    def __getstate__(self):
        d = dict(self.__dict__)
        d["_objective"] = None
        return d

    def load(self):
        if self._objective is None:
            from ..datasets import load_dataset
            (x, t), _ = load_dataset(self.dataset)
            if self.train_size:
                x, t = x[:self.train_size], t[:self.train_size]
            if self.kwargs.get("cv"):
                self._objective = MLPObjective(x, t, **self.kwargs)
            else:
                (x_tr, t_tr), (x_val, t_val) = validation_split(x, t, self.val_ratio,
                                                                self.split_seed)
                self._objective = MLPObjective(x_tr, t_tr, x_val, t_val, **self.kwargs)
        return self._objective

    def __call__(self, params, trial):
        return self.load()(params, trial)
