"""``fastnn train --model simple-convnet|deep-convnet``: 4-D input, options refused or mapped,
--save / --resume / ``fastnn evaluate`` for the book's convolutional networks."""
import json

import numpy as np
import pytest

from fastnn.cli import main
from fastnn.deep_convnet import DeepConvNet
from fastnn.serialization import load_checkpoint
from fastnn.simple_convnet import SimpleConvNet


@pytest.fixture
def tiny_sample(monkeypatch):
    """The bundled sample cut to 200 training and 100 test images (convnets are slow)."""
    import fastnn.datasets
    real = fastnn.datasets.load_dataset

    def tiny(name, **kwargs):
        (x, t), (xt, tt) = real(name, **kwargs)
        return (x[:200], t[:200]), (xt[:100], tt[:100])
    monkeypatch.setattr(fastnn.datasets, "load_dataset", tiny)


SIMPLE = ["train", "--model", "simple-convnet", "--hidden", "12", "--batch-size", "50"]


def _run(capsys, argv):
    code = main(argv)
    out = capsys.readouterr()
    assert code == 0, out.err
    return out.out


def test_simple_convnet_trains_on_images_saves_and_evaluates(tiny_sample, tmp_path, capsys):
    path = str(tmp_path / "c.npz")
    out = _run(capsys, SIMPLE + ["--epochs", "2", "--init", "std:0.05", "--save", path])
    assert out.startswith("fastnn train: simple-convnet on sample (200 train")
    assert [line.split()[:2] for line in out.splitlines() if line.startswith("epoch")] == \
        [["epoch", "1"], ["epoch", "2"]]
    ckpt = load_checkpoint(path)
    net = ckpt.network
    assert type(net) is SimpleConvNet and tuple(net.input_dim) == (1, 28, 28)
    assert (net.hidden_size, net.weight_init_std) == (12, 0.05)
    saved = ckpt.extra["cli"]
    assert saved["model"] == "simple-convnet" and saved["hidden"] == [12]
    assert saved["dropout"] is None and saved["no_batchnorm"] is None   # not its options
    final = float(out.split("done: test accuracy ")[1].split(",")[0])
    ev = _run(capsys, ["evaluate", path, "--no-figures"])
    assert "test accuracy %.4f (" % final in ev


def test_convnet_epoch_lines_label_accuracies_measured_on_a_subset(tiny_sample, monkeypatch,
                                                                    capsys):
    import fastnn.cli.train
    monkeypatch.setattr(fastnn.cli.train, "_CONVNET_EVAL_SAMPLES", 150)   # of 200 / 100
    out = _run(capsys, SIMPLE + ["--epochs", "1"])
    line = next(ln for ln in out.splitlines() if ln.startswith("epoch"))
    assert "  train acc (first 150) 0." in line and "  test acc 0." in line, line
    monkeypatch.setattr(fastnn.cli.train, "_CONVNET_EVAL_SAMPLES", 50)
    out = _run(capsys, SIMPLE + ["--epochs", "1"])
    line = next(ln for ln in out.splitlines() if ln.startswith("epoch"))
    assert "train acc (first 50) 0." in line and "test acc (first 50) 0." in line, line


def test_simple_convnet_resumed_1_plus_1_equals_2_epochs(tiny_sample, tmp_path, capsys):
    full, half = str(tmp_path / "full.npz"), str(tmp_path / "half.npz")
    _run(capsys, SIMPLE + ["--epochs", "2", "--save", full])
    _run(capsys, SIMPLE + ["--epochs", "1", "--save", half])
    out = _run(capsys, ["train", "--resume", half, "--epochs", "1", "--lr", "0.001"])
    assert "simple-convnet" in out and "from epoch 1" in out
    a, b = load_checkpoint(full), load_checkpoint(half)
    for key in a.network.params:
        np.testing.assert_array_equal(a.network.params[key], b.network.params[key])
    assert a.extra["trainer"]["history"]["test_acc"] == b.extra["trainer"]["history"]["test_acc"]
    # an MLP-only option at resume is refused by the model, not as a changed setting
    for argv, words in ((["--weight-decay", "0.1"], "--weight-decay"),
                        (["--dropout", "0.3"], "--dropout")):
        assert main(["train", "--resume", half] + argv) == 2
        assert capsys.readouterr().err.strip() == (
            "fastnn train: error: argument --model: simple-convnet does not take %s "
            "(options of --model mlp)" % words)


def test_deep_convnet_trains_saves_and_evaluates(monkeypatch, tmp_path, capsys):
    import fastnn.datasets
    real = fastnn.datasets.load_dataset

    def tinier(name, **kwargs):       # DeepConvNet: 2 steps of 10 images, 100 test images
        (x, t), (xt, tt) = real(name, **kwargs)
        return (x[:20], t[:20]), (xt[:100], tt[:100])
    monkeypatch.setattr(fastnn.datasets, "load_dataset", tinier)
    path = str(tmp_path / "d.npz")
    out = _run(capsys, ["train", "--model", "deep-convnet", "--batch-size", "10", "--epochs",
                        "1", "--dtype", "float32", "--save", path])
    assert "deep-convnet" in out and "epoch  1" in out
    net = load_checkpoint(path).network
    assert type(net) is DeepConvNet and net.dtype == np.float32 and net.hidden_size == 50
    assert "test accuracy" in _run(capsys, ["evaluate", path, "--no-figures"])


@pytest.mark.parametrize("argv, line", [
    (["--model", "simple-convnet", "--no-batchnorm", "--activation", "relu"],
     "argument --model: simple-convnet does not take --activation, --no-batchnorm "
     "(options of --model mlp)"),
    (["--model", "deep-convnet", "--label-smoothing", "0.1"],
     "argument --model: deep-convnet does not take --label-smoothing (options of --model mlp)"),
    (["--model", "simple-convnet", "--hidden", "10", "10"],
     "argument --hidden: --model simple-convnet has one hidden layer; give one size, not 2"),
    (["--model", "simple-convnet", "--init", "xavier"],
     "argument --init: --model simple-convnet takes only std:S (its weight_init_std)"),
    (["--model", "deep-convnet", "--init", "std:0.1"],
     "argument --init: --model deep-convnet takes only he (its init is fixed)"),
])
def test_options_a_convnet_does_not_take_are_refused_in_one_line(argv, line, capsys):
    assert main(["train"] + argv) == 2
    assert capsys.readouterr().err.strip() == "fastnn train: error: " + line


def test_model_is_fixed_at_resume_and_a_hostile_convnet_file_is_refused(tiny_sample, tmp_path,
                                                                        capsys):
    path = tmp_path / "c.npz"
    _run(capsys, SIMPLE + ["--epochs", "1", "--save", str(path)])
    assert main(["train", "--resume", str(path), "--model", "mlp"]) == 2
    assert "argument --model: cannot change when resuming (the run was saved with " \
        "simple-convnet)" in capsys.readouterr().err
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files}
    meta = json.loads(str(arrays.pop("__meta__")))
    meta["network"]["kwargs"]["conv_param"]["filter_num"] = 10 ** 6
    np.savez(path, __meta__=np.array(json.dumps(meta)), **arrays)
    for argv in (["evaluate", str(path)], ["train", "--resume", str(path)]):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "cannot read" in err[0] and "param/W1: shape" in err[0]


def test_dropout_inverted_reaches_the_network_and_is_fixed_at_resume(tmp_path, capsys):
    path = str(tmp_path / "m.npz")
    _run(capsys, ["train", "--hidden", "10", "--batch-size", "500", "--epochs", "1",
                  "--dropout", "0.3", "--dropout-inverted", "--save", path])
    ckpt = load_checkpoint(path)
    assert ckpt.network.dropout_inverted is True and ckpt.extra["cli"]["dropout_inverted"]
    dropout = ckpt.network.layers["Dropout1"]           # --hidden 10: one hidden layer
    assert dropout.inverted is True and dropout.dropout_ratio == 0.3
    plain = str(tmp_path / "p.npz")
    _run(capsys, ["train", "--hidden", "10", "--batch-size", "500", "--epochs", "1",
                  "--save", plain])
    assert load_checkpoint(plain).network.dropout_inverted is False
    assert main(["train", "--resume", plain, "--dropout-inverted"]) == 2
    assert capsys.readouterr().err.strip() == (
        "fastnn train: error: argument --dropout-inverted: cannot change when resuming "
        "(the run was saved without --dropout-inverted)")
    for argv, line in ((["--dropout", "0"], "argument --dropout-inverted: needs --dropout > 0"),
                       (["--model", "deep-convnet"], "argument --model: deep-convnet does not "
                        "take --dropout-inverted (options of --model mlp)")):
        assert main(["train", "--dropout-inverted"] + argv) == 2
        assert capsys.readouterr().err.strip() == "fastnn train: error: " + line
