"""Trainer options beyond the book, History, label smoothing and save/load."""
import json
import os

import numpy as np
import pytest

from fastnn.multi_layer_net import MultiLayerNet
from fastnn.multi_layer_net_extend import MultiLayerNetExtend
from fastnn.trainer import (Augmentation, ExponentialDecay, History, StepDecay, Trainer,
                            augment_images)

BACKENDS = ["fast", "reference"]


def _data(n=240, n_test=60, d=16, classes=4, seed=0):
    """Linearly separable-ish synthetic data: class means plus noise."""
    rng = np.random.RandomState(seed)
    means = rng.randn(classes, d) * 2
    t = rng.randint(classes, size=n + n_test)
    x = means[t] + rng.randn(n + n_test, d)
    return (x[:n], t[:n]), (x[n:], t[n:])


def _net(seed=0, backend="fast", **kw):
    np.random.seed(seed)
    kw.setdefault("use_batchnorm", True)
    return MultiLayerNetExtend(16, [20, 20], 4, backend=backend, **kw)


# --- the book's default stays the book's ---------------------------------------

def test_defaults_reproduce_the_book_loop_and_return_history(capsys):
    (x, t), (xt, tt) = _data()
    net = _net(3)
    np.random.seed(11)
    trainer = Trainer(net, x, t, xt, tt, epochs=2, mini_batch_size=50,
                      optimizer="sgd", optimizer_param={"lr": 0.1})
    hist = trainer.train()
    out = capsys.readouterr().out
    # The book's loop, written out: same draws, same losses, same accuracies.
    ref = _net(3)
    np.random.seed(11)
    losses, train_acc, test_acc = [], [], []
    ipe = max(240 / 50, 1)
    for i in range(int(2 * ipe)):
        mask = np.random.choice(240, 50)
        grads = ref.gradient(x[mask], t[mask])
        for k in ref.params:
            ref.params[k] -= 0.1 * grads[k]
        losses.append(ref.loss(x[mask], t[mask]))
        if i % ipe == 0:
            train_acc.append(ref.accuracy(x, t))
            test_acc.append(ref.accuracy(xt, tt))
    np.testing.assert_array_equal(trainer.train_loss_list, losses)
    assert trainer.train_acc_list == train_acc and trainer.test_acc_list == test_acc
    assert out.count("train loss:") == len(losses) == 9
    # iter_per_epoch = 4.8, the book's float quirk: only iteration 0 is an epoch start
    assert out.count("=== epoch:") == 1
    assert "Final Test Accuracy" in out
    assert isinstance(hist, History)
    assert hist.final_test_acc == ref.accuracy(xt, tt)
    assert ("test acc:" + str(ref.accuracy(xt, tt))) in out
    assert hist.train_acc == train_acc and hist.test_acc == test_acc
    assert hist.epoch == [0] and hist.iteration == [1]      # the book's first, "initial" one
    assert hist.val_acc == [] and hist.stopped_epoch is None


def test_book_trainer_logs_its_first_evaluation_as_epoch_0_and_prints_the_books_lines(
        tmp_path, capsys):
    from fastnn.trainer import CSVLogger, Callback

    class Seen(Callback):
        epochs = []

        def on_epoch_end(self, epoch, logs=None):
            self.epochs.append(epoch)
    (x, t), (xt, tt) = _data(n=150)
    path = tmp_path / "log.csv"
    tr = Trainer(_net(1), x, t, xt, tt, epochs=3, mini_batch_size=50, optimizer="sgd",
                 optimizer_param={"lr": 0.1}, callbacks=[Seen(), CSVLogger(str(path))])
    hist = tr.train()
    out = capsys.readouterr().out
    # the book's output, counter and lists: evaluations after steps 1, 4 and 7
    assert [ln.split(",")[0] for ln in out.splitlines() if ln.startswith("===")] == [
        "=== epoch:1", "=== epoch:2", "=== epoch:3", "=============== Final Test Accuracy "
        "==============="]
    assert tr.current_epoch == 3 and len(tr.train_acc_list) == len(tr.test_acc_list) == 3
    # named by the epochs completed before them: 0 is the initial one, after a single step
    assert hist.iteration == [1, 4, 7] and hist.epoch == [0, 1, 2] == Seen.epochs
    assert [r.split(",")[0] for r in path.read_text().splitlines()[1:]] == ["0", "1", "2"]
    # the book's float iter_per_epoch (2.5): evaluations after steps 1 and 6, epochs 0 and 2
    tr = Trainer(_net(1), x[:125], t[:125], xt, tt, epochs=3, mini_batch_size=50,
                 verbose=False)
    hist = tr.train()
    assert hist.iteration == [1, 6] and hist.epoch == [0, 2] and tr.current_epoch == 2


def test_history_json_roundtrip(tmp_path):
    (x, t), (xt, tt) = _data()
    path = tmp_path / "h.json"
    tr = Trainer(_net(), x, t, xt, tt, epochs=3, mini_batch_size=60, verbose=False,
                 optimizer="adam", optimizer_param={"lr": 0.01}, validation_split=0.25,
                 seed=0, history_path=str(path))
    hist = tr.train()
    data = json.loads(path.read_text())
    assert data["val_acc"] == hist.val_acc and len(data["val_acc"]) == 3
    assert data["final_test_acc"] == hist.final_test_acc
    again = History.load(str(path))
    assert again.history == hist.history and again["test_loss"] == hist.test_loss
    assert all(t > 0 for t in hist.epoch_time)
    assert not [f for f in os.listdir(tmp_path) if f.endswith(".tmp")]


# --- validation split and early stopping -------------------------------------

def test_validation_split_is_shuffled_disjoint_and_seeded():
    (x, t), (xt, tt) = _data()
    x = np.column_stack([np.arange(len(x)), x])     # column 0 identifies a row
    net = MultiLayerNet(17, [8], 4)
    xt17 = np.column_stack([np.zeros(len(xt)), xt])
    a = Trainer(net, x, t, xt17, tt, validation_split=0.25, seed=5, verbose=False)
    b = Trainer(net, x, t, xt17, tt, validation_split=0.25, seed=5, verbose=False)
    c = Trainer(net, x, t, xt17, tt, validation_split=0.25, seed=6, verbose=False)
    ids_val, ids_train = a.x_val[:, 0], a.x_train[:, 0]
    assert len(ids_val) == 60 and len(ids_train) == 180 and a.train_size == 180
    assert set(ids_val).isdisjoint(ids_train)
    assert sorted(np.concatenate([ids_val, ids_train])) == list(range(240))
    assert not np.array_equal(ids_val, np.arange(180, 240))       # shuffled, not the tail
    np.testing.assert_array_equal(a.x_val, b.x_val)
    assert not np.array_equal(a.x_val, c.x_val)
    np.testing.assert_array_equal(t[ids_val.astype(int)], a.t_val)


def test_explicit_validation_data_is_used():
    (x, t), (xt, tt) = _data()
    tr = Trainer(_net(), x, t, xt, tt, epochs=2, mini_batch_size=60, verbose=False,
                 validation_data=(xt[:20], tt[:20]), evaluate_at="end")
    hist = tr.train()
    assert tr.train_size == 240 and len(hist.val_acc) == 2
    assert hist.val_acc[-1] == tr.network.accuracy(xt[:20], tt[:20])


def test_early_stopping_stops_after_patience_and_restores_best_weights():
    (x, t), (xt, tt) = _data()
    net = _net(1)
    np.random.seed(0)
    # min_delta so large that nothing after the first evaluation counts as better.
    tr = Trainer(net, x, t, xt, tt, epochs=30, mini_batch_size=40, verbose=False,
                 optimizer="sgd", optimizer_param={"lr": 0.2}, validation_split=0.25, seed=0,
                 early_stopping=True, monitor="val_loss", patience=3, min_delta=100.0,
                 sampling="epoch")
    hist = tr.train()
    assert hist.best_epoch == 1 and hist.stopped_epoch == 4 and len(hist) == 4
    assert tr.current_iter == 4 * tr.iter_per_epoch < tr.max_iter
    # The weights of epoch 1 are back: the validation loss is epoch 1's again.
    from fastnn.trainer import evaluate
    loss, acc = evaluate(net, tr.x_val, tr.t_val)
    assert loss == pytest.approx(hist.val_loss[0], rel=1e-12)
    assert hist.val_loss[-1] != pytest.approx(hist.val_loss[0], rel=1e-6)


def test_early_stopping_patience_counts_only_non_improving_epochs():
    (x, t), (xt, tt) = _data()
    tr = Trainer(_net(2), x, t, xt, tt, epochs=8, mini_batch_size=40, verbose=False,
                 optimizer="adam", optimizer_param={"lr": 0.01}, validation_split=0.25,
                 seed=0, early_stopping=True, monitor="val_acc", patience=50,
                 sampling="epoch")
    hist = tr.train()
    assert hist.stopped_epoch is None and len(hist) == 8
    assert hist.best_value == max(hist.val_acc)
    assert hist.val_acc[hist.best_epoch - 1] == hist.best_value


def test_early_stopping_needs_validation_for_val_metrics():
    (x, t), (xt, tt) = _data()
    with pytest.raises(ValueError, match="validation"):
        Trainer(_net(), x, t, xt, tt, early_stopping=True)
    with pytest.raises(ValueError, match="monitor"):
        Trainer(_net(), x, t, xt, tt, early_stopping=True, monitor="val_accuracy",
                validation_split=0.2)


# --- sampling, augmentation, schedules ---------------------------------------

def test_epoch_sampling_sees_every_sample_once_per_epoch():
    (x, t), (xt, tt) = _data(n=230)
    x = np.column_stack([np.arange(230.0), x])
    net = MultiLayerNet(17, [8], 4)
    seen = []
    original = net.gradient

    def spy(xb, tb):
        seen.append(xb[:, 0].astype(int))
        return original(xb, tb)

    net.gradient = spy
    tr = Trainer(net, x, t, np.column_stack([np.zeros(len(xt)), xt]), tt, epochs=3,
                 mini_batch_size=50, verbose=False, sampling="epoch", seed=4)
    hist = tr.train()
    assert tr.iter_per_epoch == 5 and len(seen) == 15 and len(hist) == 3
    assert [len(s) for s in seen[:5]] == [50, 50, 50, 50, 30]
    epochs = [np.concatenate(seen[i:i + 5]) for i in (0, 5, 10)]
    for e in epochs:
        assert sorted(e) == list(range(230))
    assert not np.array_equal(epochs[0], epochs[1])
    assert hist.iteration == [5, 10, 15]          # evaluated at the end of each epoch


def test_augment_shift_flip_crop():
    rng = np.random.RandomState(0)
    img = np.zeros((1, 1, 5, 5))
    img[0, 0, 2, 2] = 1.0
    batch = np.repeat(img, 200, axis=0)
    shifted = augment_images(batch, rng, shift=1)
    pos = [tuple(np.argwhere(s[0] == 1)[0]) for s in shifted]
    assert set(pos) == {(r, c) for r in (1, 2, 3) for c in (1, 2, 3)}
    assert np.all(shifted.sum(axis=(1, 2, 3)) == 1)
    # a pixel moved past the border is lost, replaced by zeros
    corner = np.zeros((300, 1, 3, 3))
    corner[:, 0, 0, 0] = 1
    cropped = augment_images(corner, rng, crop_padding=1)
    assert 0 < np.mean(cropped.sum(axis=(1, 2, 3))) < 1
    # flat 28x28 input keeps its layout; hflip mirrors about half the images
    flat = np.random.RandomState(1).rand(400, 784)
    flipped = augment_images(flat, np.random.RandomState(2), hflip=True)
    assert flipped.shape == flat.shape
    mirrored = np.all(flipped.reshape(-1, 28, 28) == flat.reshape(-1, 28, 28)[:, :, ::-1],
                      axis=(1, 2))
    same = np.all(flipped == flat, axis=1)
    assert np.all(mirrored ^ same) and 150 < mirrored.sum() < 250
    a = Augmentation(shift=2, hflip=True)(flat, np.random.RandomState(9))
    b = Augmentation(shift=2, hflip=True)(flat, np.random.RandomState(9))
    np.testing.assert_array_equal(a, b)
    assert flat.base is None and not np.shares_memory(a, flat)
    with pytest.raises(ValueError, match="image shape"):
        augment_images(np.zeros((2, 10)), rng, shift=1)


def test_trainer_augments_training_batches_only():
    (x, t), (xt, tt) = _data()
    x = np.abs(x[:, :16])
    calls = []

    def aug(xb, rng):
        calls.append(xb.shape)
        return xb * 0.0

    tr = Trainer(_net(), x, t, xt, tt, epochs=1, mini_batch_size=60, verbose=False,
                 augment=aug, sampling="epoch")
    tr.train()
    assert calls == [(60, 16)] * 4


def test_lr_schedules():
    s = StepDecay(step_size=2, gamma=0.5)
    assert [s(e, 1.0) for e in range(5)] == [1.0, 1.0, 0.5, 0.5, 0.25]
    e = ExponentialDecay(gamma=0.9)
    assert e(3, 2.0) == pytest.approx(2.0 * 0.9 ** 3)
    (x, t), (xt, tt) = _data()
    tr = Trainer(_net(), x, t, xt, tt, epochs=4, mini_batch_size=60, verbose=False,
                 optimizer="momentum", optimizer_param={"lr": 0.1}, sampling="epoch",
                 lr_schedule=("step", {"step_size": 1, "gamma": 0.1}))
    hist = tr.train()
    assert hist.lr == pytest.approx([0.1, 0.01, 0.001, 0.0001])
    tr = Trainer(_net(), x, t, xt, tt, epochs=2, mini_batch_size=60, verbose=False,
                 lr_schedule="exponential")
    assert tr.train().lr == pytest.approx([0.01 * 0.95 ** 0, 0.01 * 0.95])
    with pytest.raises(ValueError):
        Trainer(_net(), x, t, xt, tt, lr_schedule="cosine")


# --- progress output ----------------------------------------------------------

def test_progress_lines_when_not_a_terminal(capsys):
    (x, t), (xt, tt) = _data()
    tr = Trainer(_net(), x, t, xt, tt, epochs=3, mini_batch_size=60, progress=True,
                 sampling="epoch")
    tr.train()
    out = capsys.readouterr().out
    lines = [ln for ln in out.splitlines() if ln.startswith("epoch ")]
    assert len(lines) == 3 and lines[0].startswith("epoch 1/3")
    assert all(ln.rstrip().endswith("s") and "test acc" in ln for ln in lines)
    assert "train loss:" not in out and "final test acc" in out


def test_progress_bar_uses_tqdm_and_falls_back_without_it(capsys, monkeypatch):
    pytest.importorskip("tqdm")
    (x, t), (xt, tt) = _data()
    tr = Trainer(_net(), x, t, xt, tt, epochs=2, mini_batch_size=60, progress="bar",
                 sampling="epoch")
    tr.train()
    cap = capsys.readouterr()
    assert "8/8" in cap.err                 # tqdm's counter on stderr
    assert cap.out.count("epoch ") >= 2     # the epoch lines, via tqdm.write
    import fastnn.trainer.progress as trainer_mod
    monkeypatch.setattr(trainer_mod, "_tqdm_or_none", lambda: None)
    tr = Trainer(_net(), x, t, xt, tt, epochs=2, mini_batch_size=60, progress="bar",
                 sampling="epoch")
    tr.train()
    cap = capsys.readouterr()
    assert "8/8" not in cap.err and cap.out.count("epoch ") == 2


# --- label smoothing: analytic gradient == numerical gradient ----------------

@pytest.mark.parametrize("backend", BACKENDS)
def test_label_smoothing_gradient_matches_numerical(backend):
    rng = np.random.RandomState(0)
    x = rng.randn(5, 6)
    t = rng.randint(3, size=5)
    np.random.seed(0)
    net = MultiLayerNet(6, [7], 3, weight_init_std=0.1, label_smoothing=0.2,
                        backend=backend)
    analytic = {k: v.copy() for k, v in net.gradient(x, t).items()}
    numeric = net.numerical_gradient(x, t)

    def rel_err(a, n):
        return np.abs(a - n).max() / np.abs(n).max()

    for key in analytic:
        assert rel_err(analytic[key], numeric[key]) < 1e-5, key
    # the gradient without smoothing fails the same check (it is not vacuous)
    np.random.seed(0)
    plain = MultiLayerNet(6, [7], 3, weight_init_std=0.1, backend=backend)
    assert rel_err(plain.gradient(x, t)["W2"], numeric["W2"]) > 1e-2


@pytest.mark.parametrize("backend", BACKENDS)
def test_label_smoothing_layer_backward_matches_numerical(backend):
    from fastnn import get_backend
    from fastnn.reference.gradient import numerical_gradient
    layer = get_backend(backend).layers.SoftmaxWithLoss(label_smoothing=0.1)
    rng = np.random.RandomState(1)
    x = rng.randn(4, 5)
    t = rng.randint(5, size=4)
    layer.forward(x, t)
    dx = layer.backward(1)
    num = numerical_gradient(lambda _: layer.forward(x, t), x)
    np.testing.assert_allclose(dx, num, rtol=1e-4, atol=1e-8)
    onehot = np.eye(5)[t]
    layer.forward(x, onehot)
    np.testing.assert_allclose(layer.backward(1), dx, rtol=1e-12)
