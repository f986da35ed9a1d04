"""The chapter-7/8 scripts' logic: the book's gradient check, the book's pickle
files, one epoch on both backends, and Figure 7-24's experiment."""
import os
import pickle

import numpy as np
import pytest

from fastnn.deep_convnet import DeepConvNet
from fastnn.simple_convnet import SimpleConvNet

# The book's repository is never vendored: the tests that read its files run when
# FASTNN_BOOK_DIR names a clone of https://github.com/oreilly-japan/deep-learning-from-scratch
# and are skipped otherwise.
BOOK = os.environ.get("FASTNN_BOOK_DIR") or None


def book_file(*parts):
    """The path of a file of the book's repository, or skip the test saying why."""
    if BOOK is None:
        pytest.skip("set FASTNN_BOOK_DIR to a clone of the book's repository")
    path = os.path.join(BOOK, *parts)
    if not os.path.exists(path):
        pytest.skip("%s is not in FASTNN_BOOK_DIR=%s" % ("/".join(parts), BOOK))
    return path


@pytest.mark.e2e
def test_gradient_check_script_numbers_agree_across_backends():
    """ch07/gradient_check.py under a seed: both backends print the same numbers."""
    printed = {}
    for backend in ("reference", "fast"):
        np.random.seed(0)
        net = SimpleConvNet(input_dim=(1, 10, 10),
                            conv_param={'filter_num': 10, 'filter_size': 3, 'pad': 0, 'stride': 1},
                            hidden_size=10, output_size=10, weight_init_std=0.01, backend=backend)
        X = np.random.rand(100).reshape((1, 1, 10, 10))
        T = np.array([1]).reshape((1, 1))
        grad_num = net.numerical_gradient(X, T)
        grad = net.gradient(X, T)
        printed[backend] = {k: np.abs(grad_num[k] - grad[k]).mean() for k in grad_num}
    for key, value in printed["reference"].items():
        assert value < 1e-5
        assert printed["fast"][key] == pytest.approx(value, rel=1e-6, abs=1e-15)


@pytest.mark.parametrize("net_cls, name", [(SimpleConvNet, "ch07/params.pkl"),
                                           (DeepConvNet, "ch08/deep_convnet_params.pkl")])
def test_book_pickles_load_and_predict_identically(net_cls, name):
    path = book_file(*name.split("/"))
    x = np.random.default_rng(0).random((20, 1, 28, 28)).astype(np.float32)
    out = {}
    for backend in ("reference", "fast"):
        net = net_cls(backend=backend)
        net.load_params(path)
        out[backend] = np.array(net.predict(x))
    with open(path, "rb") as fh:
        raw = pickle.load(fh)
    assert sorted(raw) == sorted(net.params)
    assert all(net.params[k] is not None and np.array_equal(net.params[k], v)
               for k, v in raw.items())
    scale = np.abs(out["reference"]).max()
    assert np.abs(out["fast"] - out["reference"]).max() <= 1e-12 * scale


@pytest.mark.parametrize("net_cls", [SimpleConvNet, DeepConvNet])
def test_save_params_writes_the_books_pickle(tmp_path, net_cls):
    np.random.seed(1)
    net = net_cls()
    path = tmp_path / "p.pkl"
    net.save_params(str(path))
    with open(path, "rb") as fh:
        raw = pickle.load(fh)
    assert type(raw) is dict and sorted(raw) == sorted(net.params)
    np.random.seed(2)
    other = net_cls()
    other.load_params(str(path))
    x = np.random.default_rng(1).random((3, 1, 28, 28))
    np.testing.assert_array_equal(other.predict(x), net.predict(x))


def test_float32_network_stays_float32():
    np.random.seed(0)
    net = SimpleConvNet(dtype=np.float32)
    x = np.random.default_rng(2).random((4, 1, 28, 28)).astype(np.float32)
    grads = net.gradient(x, np.array([0, 1, 2, 3]))
    assert all(v.dtype == np.float32 for v in net.params.values())
    assert all(g.dtype == np.float32 for g in grads.values())


@pytest.mark.e2e
def test_one_epoch_same_loss_curve_on_both_backends():
    """10 Adam updates of SimpleConvNet on the bundled sample: losses within 1e-8."""
    from fastnn.experiments import run_experiment
    curves = {}
    for backend in ("reference", "fast"):
        res = run_experiment("convnet", backend=backend, quick=True, write=False,
                             figures=False, stream=open(os.devnull, "w"))
        curves[backend] = np.array(res.numbers["loss_curve"])
    assert len(curves["fast"]) == 10
    np.testing.assert_allclose(curves["fast"], curves["reference"], rtol=0, atol=1e-8)


@pytest.mark.e2e
def test_one_epoch_beats_the_mlp(tmp_path):
    """One epoch on the sample: SimpleConvNet's test accuracy is above that of
    the chapter-6 network ``fastnn train`` trains (BN, dropout, Adam), and
    the filters figure is written."""
    from fastnn.datasets import load_sample
    from fastnn.experiments import run_experiment
    from fastnn.multi_layer_net_extend import MultiLayerNetExtend
    from fastnn.trainer import Trainer
    res = run_experiment("convnet", out=str(tmp_path), stream=open(os.devnull, "w"))
    assert os.path.exists(os.path.join(str(tmp_path), "convnet", "convnet-filters.png"))
    (x, t), (xt, tt) = load_sample()
    np.random.seed(0)
    mlp = MultiLayerNetExtend(784, [100] * 5, 10, use_batchnorm=True, use_dropout=True,
                              dropout_ration=0.2)
    Trainer(mlp, x, t, xt, tt, epochs=1, mini_batch_size=100, optimizer='Adam',
            optimizer_param={'lr': 0.001}, verbose=False).train()
    assert res.numbers["test_acc"] > mlp.accuracy(xt, tt)


def _rewrite_imports(text):
    """The whole migration: the book's imports, pointed at fastnn."""
    import re
    text = re.sub(r"^from common\.(\w+) import", r"from fastnn.\1 import", text, flags=re.M)
    text = re.sub(r"^from dataset\.mnist import", "from fastnn.dataset.mnist import", text,
                  flags=re.M)
    return re.sub(r"^from (simple_convnet|deep_convnet) import", r"from fastnn.\1 import",
                  text, flags=re.M)


@pytest.mark.parametrize("script", ["gradient_check.py", "apply_filter.py"])
def test_book_ch07_script_runs_with_only_its_imports_changed(tmp_path, script):
    """The book's own file (read from its repository, never copied into
    fastnn), imports rewritten, run as a script."""
    import shutil
    import subprocess
    import sys
    src = book_file("ch07", script)
    work = tmp_path / "ch07"
    work.mkdir()
    (tmp_path / "dataset").mkdir()
    shutil.copy(book_file("dataset", "lena_gray.png"), tmp_path / "dataset")
    shutil.copy(book_file("ch07", "params.pkl"), work)
    with open(src, encoding="utf-8") as fh:
        (work / script).write_text(_rewrite_imports(fh.read()), encoding="utf-8")
    import fastnn
    env = dict(os.environ, MPLBACKEND="Agg", HOME=str(tmp_path),
               PYTHONPATH=os.path.dirname(os.path.dirname(os.path.abspath(fastnn.__file__))))
    res = subprocess.run([sys.executable, script], capture_output=True, text=True, env=env,
                         timeout=300, cwd=work)
    assert res.returncode == 0, res.stderr
    if script == "gradient_check.py":
        lines = [line.split() for line in res.stdout.splitlines()]
        assert [w[0] for w in lines] == ["W1", "b1", "W2", "b2", "W3", "b3"]
        # Unseeded in the book: mean |numerical - backprop| is ~1e-6..1e-9 here,
        # more when a random input puts a ReLU near its kink.
        assert all(float(w[1]) < 1e-3 for w in lines)


def test_trainer_keeps_the_books_random_stream_with_dropout():
    """The Trainer's extra test-loss evaluation must not draw from np.random:
    DeepConvNet's loss runs dropout, and ch08/train_deepnet.py under a seed
    must print the book's losses (its Trainer never evaluates a test loss)."""
    from fastnn.trainer import Trainer
    rng = np.random.default_rng(0)
    x = rng.random((40, 1, 28, 28))
    t = rng.integers(0, 10, 40)
    small = {'filter_num': 2, 'filter_size': 3, 'pad': 1, 'stride': 1}
    np.random.seed(0)
    net = DeepConvNet(conv_param_1=small, conv_param_2=small, conv_param_3=small,
                      conv_param_4=dict(small, pad=2), conv_param_5=small, hidden_size=8)
    trainer = Trainer(net, x, t, x[:20], t[:20], epochs=2, mini_batch_size=20,
                      optimizer='Adam', optimizer_param={'lr': 0.001}, verbose=False)
    trainer.train()
    # The same run by hand, the book's way: batch, gradient, update, loss.
    from fastnn.optimizer import Adam
    np.random.seed(0)
    net2 = DeepConvNet(conv_param_1=small, conv_param_2=small, conv_param_3=small,
                       conv_param_4=dict(small, pad=2), conv_param_5=small, hidden_size=8)
    opt = Adam()
    losses = []
    for _ in range(4):
        mask = np.random.choice(40, 20)
        opt.update(net2.params, net2.gradient(x[mask], t[mask]))
        losses.append(net2.loss(x[mask], t[mask]))
    np.testing.assert_allclose(trainer.train_loss_list, losses, rtol=1e-12)
