"""Trainer callbacks, the inverse-time schedule, the one training step and exact resume,
on the bundled Fashion-MNIST sample (small slices, a few epochs)."""
import csv

import numpy as np
import pytest

from fastnn.datasets import load_sample
from fastnn.multi_layer_net_extend import MultiLayerNetExtend
from fastnn.serialization import load_checkpoint, load_network
from fastnn.trainer import (Callback, CSVLogger, EarlyStopping, InverseTimeDecay,
                            ModelCheckpoint, ReduceLROnPlateau, Trainer, evaluate)


@pytest.fixture(scope="module")
def sample():
    (x, t), (xt, tt) = load_sample()
    return (x[:400].astype(np.float64), t[:400]), (xt[:200].astype(np.float64), tt[:200])


def _trainer(sample, epochs=4, seed=0, init_seed=None, **kw):
    (x, t), (xt, tt) = sample
    np.random.seed(seed if init_seed is None else init_seed)
    net = MultiLayerNetExtend(784, [30, 30], 10, use_batchnorm=True, use_dropout=True,
                              dropout_ration=0.1)
    kw.setdefault("optimizer", "adam")
    kw.setdefault("optimizer_param", {"lr": 0.01})
    kw.setdefault("validation_split", 0.25)
    return Trainer(net, x, t, xt, tt, epochs=epochs, mini_batch_size=50, verbose=False,
                   sampling="epoch", seed=seed, **kw)


class Recorder(Callback):
    def __init__(self, stop_at=None, via_flag=False):
        self.calls = []
        self.stop_at = stop_at
        self.via_flag = via_flag

    def on_train_begin(self, logs=None):
        self.calls.append("begin")

    def on_epoch_end(self, epoch, logs=None):
        self.calls.append((epoch, round(logs["val_acc"], 6), logs["lr"]))
        if epoch == self.stop_at:
            if self.via_flag:
                self.trainer.stop_training = True
            else:
                return True

    def on_train_end(self, logs=None):
        self.calls.append("end")


@pytest.mark.parametrize("via_flag", [False, True])
def test_callback_hooks_run_in_order_and_can_stop_training(sample, via_flag):
    rec = Recorder(stop_at=2, via_flag=via_flag)
    tr = _trainer(sample, callbacks=[rec])
    hist = tr.train()
    assert rec.calls[0] == "begin" and rec.calls[-1] == "end"
    epochs = rec.calls[1:-1]
    assert [e[0] for e in epochs] == [1, 2] and len(hist) == 2
    assert [e[1] for e in epochs] == [round(v, 6) for v in hist.val_acc]
    assert tr.current_iter == 2 * tr.iter_per_epoch
    assert hist.final_test_acc is not None


def test_early_stopping_callback_equals_the_keyword_shortcut(sample):
    kw = dict(monitor="val_loss", patience=2, min_delta=100.0)
    a = _trainer(sample, epochs=10, early_stopping=True, **kw).train()
    cb = EarlyStopping(**kw)
    tr = _trainer(sample, epochs=10, callbacks=[cb])
    b = tr.train()
    assert a.stopped_epoch == b.stopped_epoch == 3 and a.best_epoch == b.best_epoch == 1
    assert a.val_loss == b.val_loss and a.final_test_acc == b.final_test_acc
    # best weights restored: the validation loss is epoch 1's again
    assert evaluate(tr.network, tr.x_val, tr.t_val)[0] == pytest.approx(b.val_loss[0],
                                                                         rel=1e-12)
    with pytest.raises(ValueError, match="validation"):
        _trainer(sample, validation_split=0.0, callbacks=[EarlyStopping()])


def test_reduce_lr_on_plateau_cuts_the_rate_and_records_it(sample):
    cb = ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=2, min_delta=100.0)
    hist = _trainer(sample, epochs=6, callbacks=[cb]).train()
    # epoch 1 sets the best; no later epoch beats it by 100: cuts after epochs 3 and 5
    assert hist.lr == pytest.approx([0.01, 0.01, 0.01, 0.005, 0.005, 0.0025])
    assert [(e["epoch"], e["kind"], e["lr"]) for e in hist.events] == [
        (3, "lr", 0.005), (5, "lr", 0.0025)]
    # with a schedule, the schedule's base rate is cut
    cb = ReduceLROnPlateau(factor=0.5, patience=1, min_delta=100.0)
    tr = _trainer(sample, epochs=3, callbacks=[cb], lr_schedule=InverseTimeDecay(1.0))
    hist = tr.train()
    assert hist.lr == pytest.approx([0.01, 0.01 / 2, 0.005 / 3])   # cut after epochs 2 and 3


def test_model_checkpoint_best_only_is_loadable_and_tracks_the_best(sample, tmp_path):
    cb = ModelCheckpoint(str(tmp_path / "best-{epoch}.npz"), monitor="val_acc",
                         save_best_only=True)
    last = ModelCheckpoint(str(tmp_path / "last.npz"))
    tr = _trainer(sample, epochs=5, callbacks=[cb, last])
    hist = tr.train()
    saved = sorted(int(p.stem.split("-")[1]) for p in tmp_path.glob("best-*.npz"))
    running, improving = -1, []
    for epoch, acc in zip(hist.epoch, hist.val_acc):
        if acc > running:
            running, improving = acc, improving + [epoch]
    assert saved == improving
    best = int(np.argmax(hist.val_acc)) + 1
    assert cb.last_path.endswith("best-%d.npz" % best)
    net = load_network(cb.last_path)
    assert net.accuracy(tr.x_val, tr.t_val) == hist.val_acc[best - 1]
    ckpt = load_checkpoint(str(tmp_path / "last.npz"))
    assert ckpt.extra["trainer"]["epoch"] == 5
    assert ckpt.extra["trainer"]["history"]["val_acc"] == hist.val_acc
    assert not list(tmp_path.glob("*.part"))       # written atomically, nothing left over


def test_csv_logger_writes_one_row_per_epoch(sample, tmp_path):
    path = tmp_path / "log.csv"
    hist = _trainer(sample, epochs=3, callbacks=[CSVLogger(str(path))]).train()
    rows = list(csv.DictReader(path.open()))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    assert [float(r["val_acc"]) for r in rows] == hist.val_acc
    assert [float(r["train_loss"]) for r in rows] == pytest.approx(hist.train_loss, rel=1e-12)
    _trainer(sample, epochs=2, callbacks=[CSVLogger(str(path), append=True)]).train()
    assert len(list(csv.DictReader(path.open()))) == 5


def test_inverse_time_decay_is_the_courses_formula(sample):
    s = InverseTimeDecay(decay_rate=0.5)
    assert [s(e, 1.0) for e in range(4)] == pytest.approx([1.0, 1 / 1.5, 1 / 2.0, 1 / 2.5])
    hist = _trainer(sample, epochs=3, lr_schedule=("inverse-time", {"decay_rate": 1.0})).train()
    assert hist.lr == pytest.approx([0.01, 0.005, 0.01 / 3])
    with pytest.raises(ValueError, match="decay_rate"):
        InverseTimeDecay(-1)


def test_trainer_resume_from_checkpoint_is_bit_for_bit(sample, tmp_path):
    """6 epochs in one go == 3 epochs, save, load, 3 more (weights, optimizer, BN
    statistics, dropout masks, augmentation and shuffles, History)."""
    kw = dict(augment={"shift": 1}, lr_schedule=("step", {"step_size": 2, "gamma": 0.5}))
    full = _trainer(sample, epochs=6, **kw)
    h_full = full.train()
    first = _trainer(sample, epochs=3, **kw)
    first.train()
    first.save_checkpoint(str(tmp_path / "ck.npz"))
    np.random.seed(12345)                      # anything in between must not matter
    ckpt = load_checkpoint(str(tmp_path / "ck.npz"))
    (x, t), (xt, tt) = sample
    second = Trainer(ckpt.network, x, t, xt, tt, epochs=3, mini_batch_size=50, verbose=False,
                     sampling="epoch", seed=0, validation_split=0.25,
                     optimizer=ckpt.optimizer, **kw)
    second.restore(ckpt)
    h = second.train()
    for key in full.network.params:
        np.testing.assert_array_equal(second.network.params[key], full.network.params[key])
    assert h.epoch == list(range(1, 7)) and h.val_acc == h_full.val_acc
    assert h.lr == h_full.lr and h.train_loss == h_full.train_loss
    assert h.final_test_acc == h_full.final_test_acc


def test_trainer_restore_as_the_readme_writes_it_resumes_bit_for_bit(sample, tmp_path):
    """The README's recipe: ``trainer.save_checkpoint(path)``, then, in a new
    process, a Trainer built as the first (its network with other initial
    weights, its optimizer fresh) and ``trainer.restore(load_checkpoint(path))``."""
    kw = dict(lr_schedule=("step", {"step_size": 2, "gamma": 0.5}))
    full = _trainer(sample, epochs=6, **kw)
    h_full = full.train()
    first = _trainer(sample, epochs=3, **kw)
    first.train()
    path = str(tmp_path / "ck.npz")
    first.save_checkpoint(path)

    trainer = _trainer(sample, epochs=3, init_seed=99, **kw)
    trainer.restore(load_checkpoint(path))
    h = trainer.train()
    for key in full.network.params:
        np.testing.assert_array_equal(trainer.network.params[key], full.network.params[key])
    for key in full.optimizer.m:
        np.testing.assert_array_equal(trainer.optimizer.m[key], full.optimizer.m[key])
    assert trainer.optimizer.iter == full.optimizer.iter
    assert h.epoch == list(range(1, 7)) and h.val_acc == h_full.val_acc
    assert h.lr == h_full.lr and h.train_loss == h_full.train_loss
    assert h.final_test_acc == h_full.final_test_acc


def test_restore_into_a_trainer_built_otherwise_is_refused_and_changes_nothing(
        sample, tmp_path):
    first = _trainer(sample, epochs=1)
    first.train()
    path = str(tmp_path / "ck.npz")
    first.save_checkpoint(path)
    (x, t), (xt, tt) = sample
    other_net = MultiLayerNetExtend(784, [30, 20], 10, use_batchnorm=True)
    cases = [(Trainer(other_net, x, t, xt, tt, optimizer="adam", verbose=False),
              "hidden_size_list=\\[30, 30\\] in the checkpoint, \\[30, 20\\] here"),
             (_trainer(sample, optimizer="sgd"), "optimizer is Adam; cannot continue it with SGD")]
    for trainer, match in cases:
        before = {k: v.copy() for k, v in trainer.network.params.items()}
        with pytest.raises(ValueError, match=match):
            trainer.restore(load_checkpoint(path))
        assert trainer.current_epoch == 0 and trainer.current_iter == 0
        assert len(trainer.history) == 0
        for key, value in before.items():
            np.testing.assert_array_equal(trainer.network.params[key], value)


def _tamper_trainer_state(path, change):
    import json
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files}
    meta = json.loads(str(arrays.pop("__meta__")))
    change(meta["extra"]["trainer"])
    np.savez(path, __meta__=np.array(json.dumps(meta)), **arrays)


@pytest.mark.parametrize("change,words", [
    (lambda s: s.update(iteration="x"), "iteration is 'x'"),
    (lambda s: s.update(epoch=-1), "epoch is -1"),
    (lambda s: s.update(history=5), "History"),
    (lambda s: s["history"].update(val_acc="high"), "History val_acc is a str"),
    (lambda s: s["history"].update(lr=[0.01, "fast"]), "History lr holds 'fast'"),
    (lambda s: s.update(base_lr=-1), "base_lr is -1"),
    (lambda s: s["rng"].update(keys=[1, 2, 3]), "generator state is damaged"),
    (lambda s: s["rng"].update(pos=10 ** 6), "generator state is damaged"),
    (lambda s: s["rng"].update(keys=[-1] * 624), "generator state is damaged"),
])
def test_failed_restore_leaves_the_trainer_unchanged(sample, tmp_path, change, words):
    first = _trainer(sample, epochs=2)
    first.train()
    path = str(tmp_path / "ck.npz")
    first.save_checkpoint(path)
    _tamper_trainer_state(path, change)
    ckpt = load_checkpoint(path)
    trainer = _trainer(sample, epochs=2, init_seed=5)
    trainer.train()
    before = (trainer.current_epoch, trainer.current_iter, trainer.history.to_dict(),
              trainer.base_lr, trainer.rng.get_state()[1].copy(), trainer.optimizer.iter,
              {k: v.copy() for k, v in trainer.network.params.items()})
    np.random.seed(77)
    global_state = np.random.get_state()[1].copy()
    with pytest.raises(ValueError, match=words):
        trainer.restore(ckpt)
    after = (trainer.current_epoch, trainer.current_iter, trainer.history.to_dict(),
             trainer.base_lr, trainer.rng.get_state()[1], trainer.optimizer.iter,
             trainer.network.params)
    assert after[:4] == before[:4]
    np.testing.assert_array_equal(after[4], before[4])
    assert after[5] == before[5]
    for key, value in before[6].items():
        np.testing.assert_array_equal(after[6][key], value)
    np.testing.assert_array_equal(np.random.get_state()[1], global_state)


def test_checkpoint_written_by_a_callback_mid_run_resumes_exactly(sample, tmp_path):
    """ModelCheckpoint saves inside the epoch's end: the step counter, the generators
    and the History are those after the epoch, so resuming from epoch 2 of a 4-epoch
    run gives the 4-epoch run's weights."""
    cb = ModelCheckpoint(str(tmp_path / "ck-{epoch}.npz"))
    full = _trainer(sample, epochs=4, callbacks=[cb], augment={"hflip": True})
    h_full = full.train()
    ckpt = load_checkpoint(str(tmp_path / "ck-2.npz"))
    assert ckpt.extra["trainer"]["iteration"] == 2 * full.iter_per_epoch
    (x, t), (xt, tt) = sample
    rest = Trainer(ckpt.network, x, t, xt, tt, epochs=2, mini_batch_size=50, verbose=False,
                   sampling="epoch", seed=0, validation_split=0.25, optimizer=ckpt.optimizer,
                   augment={"hflip": True})
    rest.restore(ckpt)
    h = rest.train()
    for key in full.network.params:
        np.testing.assert_array_equal(rest.network.params[key], full.network.params[key])
    assert h.val_loss == h_full.val_loss and h.iteration == h_full.iteration


# --- progress within an epoch -----------------------------------------------------

class _Terminal:
    """A stream that says it is a terminal and keeps what is written."""

    def __init__(self):
        self.text = ""

    def write(self, s):
        self.text += s

    def flush(self):
        pass

    def isatty(self):
        return True


def test_step_progress_rewrites_one_line_per_epoch_and_clears_it(sample):
    from fastnn.trainer import StepProgress
    now = [0.0]

    def clock():
        now[0] += 0.4
        return now[0]
    term = _Terminal()
    sp = StepProgress(interval=1.0, bar=False, stream=term, clock=clock)
    _trainer(sample, epochs=2, validation_split=0.0, callbacks=[sp]).train()   # 8 steps/epoch
    # a clock read per step, 0.4 s apart: a redraw every third step, at least 1 s apart
    shown = [(s.split("  ")[0], s.split("  ")[-1]) if s.strip() else len(s)
             for s in term.text.split("\r")]
    line = len(term.text.split("\r")[2])
    assert shown == [0, ("epoch 1: step 3/8", "1s"), ("epoch 1: step 6/8", "2s"), line, 0,
                     ("epoch 2: step 3/8", "1s"), ("epoch 2: step 6/8", "2s"), line, 0]


def test_step_progress_uses_a_tqdm_bar_per_epoch_when_installed(sample):
    from fastnn.trainer import StepProgress
    bars = []

    class Bar:
        def __init__(self, total, desc, **kw):
            self.total, self.desc, self.n, self.closed = total, desc, 0, False
            bars.append(self)

        def update(self, k):
            self.n += k

        def set_postfix(self, **kw):
            self.postfix = kw

        def close(self):
            self.closed = True
    sp = StepProgress(stream=_Terminal())
    sp.tqdm = Bar
    _trainer(sample, epochs=2, validation_split=0.0, callbacks=[sp]).train()
    assert [(b.desc, b.total, b.n, b.closed) for b in bars] == [("epoch 1", 8, 8, True),
                                                               ("epoch 2", 8, 8, True)]


def test_cli_train_shows_steps_within_an_epoch_on_a_terminal_only(monkeypatch, capsys):
    import sys
    import fastnn.trainer.progress as progress
    from fastnn.cli import main
    argv = ["train", "--hidden", "20", "--batch-size", "1000", "--epochs", "2"]
    assert main(argv) == 0
    plain = capsys.readouterr()
    assert plain.err == "" and "\r" not in plain.out           # not a terminal: nothing extra
    monkeypatch.setattr(progress, "on_terminal", lambda: True)
    monkeypatch.setattr(progress.StepProgress, "INTERVAL", 0.0)
    monkeypatch.setitem(sys.modules, "tqdm", None)                 # the plain line
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)
    assert main(argv) == 0
    tty = capsys.readouterr()
    assert [ln.split("  ")[:2] for ln in tty.out.splitlines()[:-1]] == \
        [ln.split("  ")[:2] for ln in plain.out.splitlines()[:-1]]   # the same lines on stdout
    shown = [s.split("  ")[0] for s in tty.err.split("\r") if s.strip()]
    assert shown == ["epoch %d: step %d/5" % (e, s) for e in (1, 2) for s in range(1, 6)]


# -- where a callback or history_path will write is checked before the first step -------

def _unusable(tmp_path, kind):
    import os
    path = tmp_path / "out"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "folder":
        path.mkdir()
    else:                                     # a folder under a file
        path.write_text("x")
        path = path / "sub" / "out"
    return str(path)


CASES = [(where, kind) for where in ("ModelCheckpoint", "CSVLogger", "history_path")
         for kind in ("fifo", "folder", "under-a-file")]
CASES += [("ModelCheckpoint-{epoch}", kind) for kind in ("fifo", "under-a-file")]


@pytest.mark.parametrize("where,kind", CASES)
def test_unusable_output_path_is_refused_before_training(sample, tmp_path, where, kind):
    # They used to fail at the first epoch's end, or after the last (scripts/attack).
    path = _unusable(tmp_path, kind)
    if where == "history_path":
        tr = _trainer(sample, epochs=2, history_path=path)
    else:
        if where.endswith("{epoch}"):           # the folder is what cannot be used
            path = path + "/ckpt-{epoch}.npz"
        callback = (CSVLogger(path) if where == "CSVLogger" else ModelCheckpoint(path))
        tr = _trainer(sample, epochs=2, callbacks=[callback])
    with pytest.raises(OSError, match="cannot write"):
        tr.train()
    assert tr.current_iter == 0
