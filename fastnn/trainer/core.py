"""The book's ``Trainer`` (``common/trainer.py``) with keyword-only options beyond it."""
import math
import time

import numpy as np

from .._fileio import check_writable
from .augment import make_augment
from .callbacks import EarlyStopping
from .history import History
from .loop import _fast_eval_ok, evaluate, make_optimizer, train_step
from .progress import Progress
from .schedules import make_schedule

__all__ = ["Trainer"]


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
        the first step of each epoch, so the first one is measured after a
        single update) or ``'end'`` (after the last step of each epoch, and
        after the final step).  Default: ``'start'`` with
        ``sampling='replacement'``, ``'end'`` with ``sampling='epoch'``.
        With ``'start'`` the verbose output, ``current_epoch`` and the
        ``*_list`` attributes stay the book's (its first ``=== epoch:1``
        comes after one update), while the :class:`History`, the callbacks
        and the CSV log number each evaluation by the epochs completed before
        it: 0 for that first one, the "initial" evaluation.
    ``validation_split`` / ``validation_data``
        Hold out a shuffled fraction of the training data (drawn with
        ``seed``), or give ``(x_val, t_val)``; validation loss and accuracy
        (on the whole validation set) join the per-epoch record.
    ``callbacks``
        A list of callbacks (:mod:`fastnn.trainer.callbacks`: objects with
        ``on_train_begin``, ``on_batch_end(iteration, logs)`` after every
        step, ``on_epoch_end(epoch, logs)``, which can stop training, and
        ``on_train_end``), e.g. :class:`EarlyStopping`, :class:`StepProgress`,
        :class:`ReduceLROnPlateau`, :class:`ModelCheckpoint`, :class:`CSVLogger`.
    ``early_stopping``, ``monitor``, ``patience``, ``min_delta``, ``restore_best_weights``
        A shortcut for an :class:`EarlyStopping` callback: stop when ``monitor``
        (``'val_loss'`` by default; any of ``train_loss``, ``train_acc``, ``val_loss``, ``val_acc``,
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
        ``'step'``, ``'exponential'``, ``'inverse-time'``, ``('step',
        {'step_size': 5, 'gamma': 0.5})``, a :class:`StepDecay`,
        :class:`ExponentialDecay`, :class:`InverseTimeDecay` or any
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

    :meth:`state_dict` / :meth:`restore` and :meth:`save_checkpoint` carry a
    run across processes exactly (epoch counter, History, generators).

    :meth:`train` returns the :class:`History`; its ``final_test_acc`` is
    the accuracy on the whole test set that the book's ``train()`` prints.
    """

    def __init__(self, network, x_train, t_train, x_test, t_test,
                 epochs=20, mini_batch_size=100,
                 optimizer='SGD', optimizer_param={'lr': 0.01},  # noqa: B006 (the book's; only read)
                 evaluate_sample_num_per_epoch=None, verbose=True,
                 *, integer_epochs=False, sampling='replacement', evaluate_at=None,
                 validation_split=0.0, validation_data=None, callbacks=None,
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
        self._end_iter = self.max_iter

        self.train_loss_list = []
        self.train_acc_list = []
        self.test_acc_list = []

        # Options beyond the book.
        self.augment = make_augment(augment)
        self.lr_schedule = make_schedule(lr_schedule)
        self.base_lr = getattr(self.optimizer, "lr", None)
        if self.lr_schedule is not None and self.base_lr is None:
            raise ValueError("lr_schedule needs an optimizer with an 'lr' attribute")
        self.progress = progress
        self.history_path = history_path
        self.history = History()
        self.stop_training = False

        self.callbacks = list(callbacks or [])
        self.early_stopping = None
        if early_stopping:
            self.early_stopping = EarlyStopping(monitor, patience, min_delta,
                                                restore_best_weights)
            self.callbacks.insert(0, self.early_stopping)
        for cb in self.callbacks:
            if hasattr(cb, "set_trainer"):
                cb.set_trainer(self)
        self._began = False
        self._batch_hooks = []
        self._perm = None
        self._perm_pos = 0
        self._epoch_losses = []
        self._epoch_t0 = None
        self._progress = None

    # -- learning rate ------------------------------------------------------
    def set_lr(self, lr):
        """Set the learning rate from now on (the schedule's base rate when there is one)."""
        self.base_lr = lr
        self.optimizer.lr = (lr if self.lr_schedule is None else
                             self.lr_schedule(int(self.current_iter // self.iter_per_epoch), lr))

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
        return int((i + 1) // ipe) > int(i // ipe) or i + 1 == self._end_iter

    def train_step(self):
        if not self._began:
            self._begin()
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

        loss = train_step(self.network, self.optimizer, x_batch, t_batch)
        self.train_loss_list.append(loss)
        self._epoch_losses.append(float(loss))
        quiet = bool(self.progress)
        if self.verbose and not quiet:
            print("train loss:" + str(loss))

        due = self._epoch_due()
        self.current_iter += 1      # before the epoch's callbacks: their state is after this step
        if self._batch_hooks:
            logs = {"loss": float(loss)}
            for hook in self._batch_hooks:
                hook(self.current_iter, logs)
        if due:
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

    def _epoch_label(self):
        """The number the History and the callbacks give the evaluation just made: the
        epoch counter, or with ``evaluate_at='start'`` the epochs completed before the
        step it follows (0 for the book's first evaluation, after a single step)."""
        if self.evaluate_at == "end":
            return self.current_epoch
        return int(round((self.current_iter - 1) / self.iter_per_epoch))

    def _record_epoch(self, train_acc, test_loss, test_acc):
        now = time.perf_counter()
        h = self.history
        label = self._epoch_label()
        h.epoch.append(label)
        h.iteration.append(self.current_iter)
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
            (self._progress or Progress(False, 0)).epoch(h, self.epochs)
        self._epoch_t0 = time.perf_counter()
        logs = h.last()
        for cb in self.callbacks:
            hook = getattr(cb, "on_epoch_end", None)
            if hook is not None and hook(label, logs) is True:
                self.stop_training = True

    def _begin(self):
        if self.history_path is not None:       # written after the last epoch: check it now
            check_writable(self.history_path)
        self._began = True
        self._batch_hooks = [cb.on_batch_end for cb in self.callbacks
                             if hasattr(cb, "on_batch_end")]
        logs = self.history.last()
        for cb in self.callbacks:
            if hasattr(cb, "on_train_begin"):
                cb.on_train_begin(logs)

    # -- the whole run -----------------------------------------------------
    def train(self):
        """Run ``epochs`` epochs (or until a callback stops it) and return the :class:`History`."""
        t0 = time.perf_counter()
        self.stop_training = False
        self._end_iter = self.current_iter + self.max_iter
        self._begin()
        self._progress = Progress(self.progress, self.max_iter)
        try:
            for _ in range(self.max_iter):          # the book's loop: max_iter more steps
                if self.stop_training:
                    break
                self.train_step()
                self._progress.step(self.history, self.current_iter, self._last_loss())
        finally:
            self._progress.close()
            self._progress = None
        logs = self.history.last()
        for cb in self.callbacks:
            if hasattr(cb, "on_train_end"):
                cb.on_train_end(logs)
        test_acc = self.network.accuracy(self.x_test, self.t_test)
        if self.verbose and not self.progress:
            print("=============== Final Test Accuracy ===============")
            print("test acc:" + str(test_acc))
        h = self.history
        h.final_test_acc = float(test_acc)
        h.total_time += time.perf_counter() - t0
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

    # -- carrying a run across processes -------------------------------------
    def state_dict(self):
        """The run's progress as a JSON-able dict: epoch and step counters, the
        :class:`History`, the base learning rate and the Trainer's own generator
        (with ``seed``).  Taken at an epoch's end, it restores exactly."""
        rng = None
        if self.rng is not np.random:
            kind, keys, pos, has_gauss, gauss = self.rng.get_state()
            rng = {"kind": kind, "keys": [int(k) for k in keys], "pos": int(pos),
                   "has_gauss": int(has_gauss), "cached_gaussian": float(gauss)}
        return {"epoch": self.current_epoch, "iteration": self.current_iter,
                "base_lr": self.base_lr, "history": self.history.to_dict(), "rng": rng,
                "seed": self.seed}

    def load_state_dict(self, state):
        """Continue the run described by ``state`` (from :meth:`state_dict`).
        All of it is checked first: on a ``ValueError`` nothing has changed."""
        self._apply_state(_checked_state(state))

    def _apply_state(self, checked):
        epoch, iteration, history, base_lr, rng_state = checked
        self.current_epoch = epoch
        self.current_iter = iteration
        self.history = history
        if base_lr is not None:
            self.base_lr = base_lr
        if rng_state is not None:
            if self.rng is np.random:
                self.rng = np.random.RandomState()
            self.rng.set_state(rng_state)
        self._perm = None
        self._perm_pos = 0
        self._end_iter = self.current_iter + self.max_iter

    def save_checkpoint(self, path, extra=None):
        """Write network, optimizer state, ``np.random``'s state and :meth:`state_dict`
        to ``path`` (atomically); :meth:`restore` continues from it."""
        from ..serialization import save_network
        meta = dict(extra or {})
        meta["trainer"] = self.state_dict()
        save_network(path, self.network, self.optimizer, rng=True, extra=meta)

    def restore(self, checkpoint):
        """Continue the run saved in ``checkpoint`` (a
        :class:`~fastnn.serialization.Checkpoint` written by :meth:`save_checkpoint`
        or :class:`ModelCheckpoint`): its weights and batch-norm statistics go
        into this Trainer's network, its optimizer state and hyperparameters
        into this Trainer's optimizer (both built as the saved ones, or the
        checkpoint's own), and the epoch counter, History, ``np.random`` and
        the Trainer's generator are put back.  Everything is checked first: on
        a ``ValueError`` nothing has changed."""
        state = (checkpoint.extra or {}).get("trainer")
        if state is None:
            raise ValueError("this checkpoint has no Trainer state (write it with "
                             "Trainer.save_checkpoint or ModelCheckpoint)")
        checked = _checked_state(state)
        copy = checkpoint.prepare_copy(self.network, self.optimizer)
        copy()
        self._apply_state(checked)
        if checkpoint.rng_state is not None:
            checkpoint.restore_rng()


def _checked_state(state):
    """``(epoch, iteration, History, base_lr, rng state)`` from a
    :meth:`Trainer.state_dict` (as read from a file), or a ``ValueError``
    saying what is wrong in it."""
    from ..serialization import mt19937_state
    if not isinstance(state, dict):
        raise ValueError("the Trainer state is a %s, not a dict" % type(state).__name__)
    counts = []
    for key in ("epoch", "iteration"):
        value = state.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ValueError("the Trainer state's %s is %r, not a count" % (key, value))
        counts.append(value)
    history = History.from_dict(state.get("history"))
    base_lr = state.get("base_lr")
    if base_lr is not None and (isinstance(base_lr, bool) or not isinstance(base_lr, (int, float))
                                or not 0 <= base_lr < math.inf):
        raise ValueError("the Trainer state's base_lr is %r, not a learning rate" % (base_lr,))
    r = state.get("rng")
    rng_state = None
    if r is not None:
        if isinstance(r, dict):
            rng_state = mt19937_state(r.get("kind"), r.get("keys"), r.get("pos"),
                                      r.get("has_gauss"), r.get("cached_gaussian"))
        if rng_state is None:
            raise ValueError("the Trainer state's generator state is damaged")
    return counts[0], counts[1], history, base_lr, rng_state
