"""The drop-in promise: the book's module names, star imports, scripts and the CLI."""
import io
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import fastnn
from _util import FASHION_DIR

# Subprocesses must import the fastnn under test (installed or source tree).
PACKAGE_PARENT = os.path.dirname(os.path.dirname(os.path.abspath(fastnn.__file__)))


@pytest.mark.parametrize("module", ["fastnn.optimizer", "fastnn.layers", "fastnn.functions",
                                    "fastnn.gradient", "fastnn.util", "fastnn.trainer",
                                    "fastnn.multi_layer_net", "fastnn.multi_layer_net_extend"])
def test_star_import_gives_np(module):
    ns = {}
    exec("from %s import *" % module, ns)
    assert ns["np"] is np


def test_book_names_exist():
    from fastnn import layers, optimizer, functions
    for name in ["Relu", "Sigmoid", "Affine", "SoftmaxWithLoss", "BatchNormalization", "Dropout"]:
        assert issubclass(getattr(fastnn.reference.layers, name), getattr(layers, name))
    for name in ["SGD", "Momentum", "Nesterov", "AdaGrad", "RMSprop", "Adam"]:
        assert hasattr(optimizer, name)
    for name in ["sigmoid", "relu", "softmax", "cross_entropy_error", "softmax_loss",
                 "step_function", "identity_function", "mean_squared_error"]:
        assert callable(getattr(functions, name))


def test_softmax_is_stable():
    from fastnn.functions import softmax
    y = softmax(np.array([[1000.0, 1000.0], [-1000.0, 0.0]]))
    assert np.all(np.isfinite(y))
    np.testing.assert_allclose(y.sum(axis=1), 1.0)
    np.testing.assert_allclose(y[0], [0.5, 0.5])


def test_smooth_curve_is_the_books_filter():
    from fastnn.util import smooth_curve
    x = np.random.default_rng(0).random(40)
    s = np.r_[x[10:0:-1], x, x[-1:-11:-1]]
    w = np.kaiser(11, 2)
    want = np.convolve(w / w.sum(), s, mode="valid")[5:-5]
    np.testing.assert_allclose(smooth_curve(x), want, rtol=1e-14)


def test_show_config_reports_kernels_and_blas():
    buf = io.StringIO()
    fastnn.show_config(file=buf)
    text = buf.getvalue()
    assert fastnn.__version__ in text
    assert "optim" in text and "yes" in text
    assert "BLAS" in text


def test_cli_train_runs_on_the_bundled_sample(tmp_path):
    # cwd elsewhere: `-m` would otherwise import a source checkout in the cwd.
    res = subprocess.run([sys.executable, "-m", "fastnn", "train", "--epochs", "1",
                          "--hidden", "20", "20"], capture_output=True, text=True, timeout=120,
                         env=dict(os.environ, PYTHONPATH=PACKAGE_PARENT), cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "epoch  1" in res.stdout and "test acc" in res.stdout
    acc = float(res.stdout.strip().split("test accuracy")[1].split(",")[0])
    assert acc > 0.5


BOOK_SCRIPT = """
# The book's ch06/overfit_weight_decay.py pattern, with only the imports changed.
import numpy as np
from fastnn.dataset.mnist import load_mnist
from fastnn.multi_layer_net import MultiLayerNet
from fastnn.optimizer import SGD

(x_train, t_train), (x_test, t_test) = load_mnist(normalize=True)
x_train = x_train[:300]
t_train = t_train[:300]

weight_decay_lambda = 0.1
network = MultiLayerNet(input_size=784, hidden_size_list=[100, 100, 100, 100, 100, 100],
                        output_size=10, weight_decay_lambda=weight_decay_lambda)
optimizer = SGD(lr=0.01)
max_epochs = 30
train_size = x_train.shape[0]
batch_size = 100
train_acc_list = []
iter_per_epoch = max(train_size / batch_size, 1)
epoch_cnt = 0
for i in range(1000000000):
    batch_mask = np.random.choice(train_size, batch_size)
    x_batch = x_train[batch_mask]
    t_batch = t_train[batch_mask]
    grads = network.gradient(x_batch, t_batch)
    optimizer.update(network.params, grads)
    if i % iter_per_epoch == 0:
        train_acc_list.append(network.accuracy(x_train, t_train))
        epoch_cnt += 1
        if epoch_cnt >= max_epochs:
            break
print("epochs", len(train_acc_list), "first", train_acc_list[0], "last", train_acc_list[-1])
"""


@pytest.mark.e2e
@pytest.mark.skipif(not os.path.isdir(FASHION_DIR),
                    reason="needs `apt-get install dataset-fashion-mnist`")
def test_book_script_runs_after_changing_imports(tmp_path):
    # No MNIST offline: Fashion-MNIST has the same file names and format, so
    # it stands in for MNIST under $FASTNN_DATA/mnist.
    mnist = tmp_path / "mnist"
    mnist.mkdir()
    for name in os.listdir(FASHION_DIR):
        os.symlink(os.path.join(FASHION_DIR, name), mnist / name)
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent(BOOK_SCRIPT))
    env = dict(os.environ, FASTNN_DATA=str(tmp_path), HOME=str(tmp_path),
               PYTHONPATH=PACKAGE_PARENT)
    res = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                         env=env, timeout=300, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    words = res.stdout.split()
    assert words[1] == "30"
    assert float(words[5]) > float(words[3]) + 0.2   # it learned
