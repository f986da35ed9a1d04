"""``fastnn train``: argument checks, defaults in --help, options, files, resume."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from fastnn.cli import build_parser, main
from fastnn.serialization import load_checkpoint


def _subparser(name):
    parser = build_parser()
    return parser._subparsers._group_actions[0].choices[name]


def _error_line(capsys):
    err = capsys.readouterr().err.strip().splitlines()
    return err[-1]


@pytest.mark.parametrize("argv, option", [
    (["--epochs", "-1"], "--epochs"),
    (["--epochs", "0"], "--epochs"),
    (["--lr", "-1"], "--lr"),
    (["--lr", "nan"], "--lr"),
    (["--batch-size", "0"], "--batch-size"),
    (["--dropout", "1.5"], "--dropout"),
    (["--dropout", "-0.1"], "--dropout"),
    (["--weight-decay", "-1"], "--weight-decay"),
    (["--hidden", "10", "0"], "--hidden"),
    (["--seed", "x"], "--seed"),
])
def test_bad_argument_exits_2_with_one_line_naming_it(argv, option, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["train"] + argv)
    assert exc.value.code == 2
    line = _error_line(capsys)
    assert line.startswith("fastnn train: error: argument %s" % option), line


def test_help_shows_the_default_of_every_option():
    sub = _subparser("train")
    fmt = sub._get_formatter()
    for action in sub._actions:
        if not action.option_strings or action.nargs == 0 or action.default is None:
            continue   # flags, --help, options without a default (e.g. --save)
        assert "default" in fmt._get_help_string(action), action.option_strings


def test_dataset_missing_offline_is_one_line_pointing_at_sample(monkeypatch, capsys):
    import fastnn.datasets
    from fastnn.datasets import DatasetNotFoundError

    def offline(name, **kw):
        raise DatasetNotFoundError("MNIST data set not found.\nIt needs these four files ...")
    monkeypatch.setattr(fastnn.datasets, "load_dataset", offline)
    assert main(["train", "--dataset", "mnist", "--epochs", "1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith("fastnn train: error: argument --dataset:")
    assert "--dataset sample" in err[0] and "Traceback" not in err[0]


# --- the chapter's options, on the bundled sample (tiny nets, few epochs) ------

SMALL = ["--hidden", "20", "--batch-size", "250", "--epochs", "1"]


def _train(capsys, *argv):
    code = main(["train"] + SMALL + list(argv))
    out = capsys.readouterr()
    assert code == 0, out.err
    return out.out


@pytest.mark.parametrize("argv, option", [
    (["--momentum", "1"], "--momentum"),
    (["--beta1", "0"], "--beta1"),
    (["--beta2", "1.0"], "--beta2"),
    (["--decay-rate", "2"], "--decay-rate"),
    (["--optimizer", "lbfgs"], "--optimizer"),
    (["--init", "glorot"], "--init"),
    (["--init", "std:-1"], "--init"),
    (["--activation", "swish"], "--activation"),
    (["--label-smoothing", "1"], "--label-smoothing"),
    (["--val-split", "1"], "--val-split"),
    (["--early-stopping", "0"], "--early-stopping"),
    (["--augment", "zoom=2"], "--augment"),
    (["--augment", "shift=-1"], "--augment"),
    (["--augment", "shift"], "--augment"),
    (["--lr-schedule", "cosine"], "--lr-schedule"),
    (["--lr-step", "0"], "--lr-step"),
    (["--lr-gamma", "0"], "--lr-gamma"),
    (["--lr-decay", "-1"], "--lr-decay"),
    (["--save-every", "0"], "--save-every"),
])
def test_bad_chapter_option_exits_2_naming_it(argv, option, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["train"] + argv)
    assert exc.value.code == 2
    assert _error_line(capsys).startswith("fastnn train: error: argument %s" % option)


@pytest.mark.parametrize("argv, option", [
    (["--optimizer", "sgd", "--momentum", "0.5"], "--momentum"),
    (["--optimizer", "momentum", "--beta1", "0.5"], "--beta1"),
    (["--lr-decay", "0.5"], "--lr-decay"),
    (["--lr-schedule", "inverse-time", "--lr-gamma", "0.5"], "--lr-gamma"),
    (["--save-every", "2"], "--save-every"),
    (["--early-stopping", "2"], "--early-stopping"),
    (["--rollback-best"], "--rollback-best"),
    (["--resume", "no-such-file.npz"], "--resume"),
    (["--save", "."], "--save"),
    (["--history", __file__ + "/h.json"], "--history"),
    (["--save", __file__ + "/sub/m.npz"], "--save"),
    (["--resume", __file__], "--resume"),
])
def test_options_that_do_not_go_together_exit_2_naming_one(argv, option, capsys):
    # also: files that cannot be written or read
    assert main(["train"] + argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("fastnn train: error: argument %s" % option)


@pytest.mark.parametrize("name, argv, hyper", [
    ("SGD", ["--optimizer", "sgd"], {}),
    ("Momentum", ["--optimizer", "momentum", "--momentum", "0.5"], {"momentum": 0.5}),
    ("Nesterov", ["--optimizer", "nesterov", "--momentum", "0.8"], {"momentum": 0.8}),
    ("AdaGrad", ["--optimizer", "adagrad"], {}),
    ("RMSprop", ["--optimizer", "rmsprop", "--decay-rate", "0.9"], {"decay_rate": 0.9}),
    ("Adam", ["--optimizer", "adam", "--beta1", "0.8", "--beta2", "0.99"],
     {"beta1": 0.8, "beta2": 0.99}),
])
def test_optimizer_and_its_hyperparameters_reach_the_run(name, argv, hyper, tmp_path, capsys):
    path = str(tmp_path / "m.npz")
    _train(capsys, "--lr", "0.02", "--save", path, *argv)
    opt = load_checkpoint(path).optimizer
    assert type(opt).__name__ == name and opt.lr == 0.02
    for key, value in hyper.items():
        assert getattr(opt, key) == value


def test_network_options_reach_the_network(tmp_path, capsys):
    path = str(tmp_path / "m.npz")
    _train(capsys, "--activation", "sigmoid", "--label-smoothing", "0.1", "--dropout", "0",
           "--no-batchnorm", "--weight-decay", "0.001", "--dtype", "float32", "--save", path,
           "--optimizer", "sgd", "--lr", "1e-12", "--init", "std:0.01")
    net = load_checkpoint(path).network
    assert type(net.layers["Activation_function1"]).__name__ == "Sigmoid"
    assert net.last_layer.label_smoothing == 0.1 and not net.use_dropout
    assert not net.use_batchnorm and net.weight_decay_lambda == 0.001
    assert net.dtype == np.float32
    assert np.std(net.params["W1"]) == pytest.approx(0.01, rel=0.05)   # lr ~ 0: still init
    _train(capsys, "--init", "xavier", "--save", path, "--optimizer", "sgd", "--lr", "1e-12")
    assert np.std(load_checkpoint(path).network.params["W1"]) == pytest.approx(
        np.sqrt(1 / 784), rel=0.05)


def test_val_split_augment_and_history(tmp_path, capsys, monkeypatch):
    import fastnn.trainer.augment as aug
    calls = []
    real = aug.augment_images
    monkeypatch.setattr(aug, "augment_images", lambda x, rng, **kw: calls.append(kw) or
                        real(x, rng, **kw))
    hist_path = tmp_path / "h.json"
    out = _train(capsys, "--val-split", "0.2", "--augment", "shift=2,hflip,crop=1",
                 "--history", str(hist_path), "--epochs", "2")
    assert "4000 train / 1000 val / 1000 test" in out and "val acc" in out
    assert len(calls) == 2 * 16 and calls[0] == {"image_shape": None, "shift": 2,
                                                "hflip": True, "crop_padding": 1}
    hist = json.loads(hist_path.read_text())
    assert hist["epoch"] == [1, 2] and len(hist["val_acc"]) == 2
    assert "%.4f" % hist["val_acc"][-1] in out


def test_early_stopping_stops_and_restores_the_best(tmp_path, capsys):
    path, hist_path = str(tmp_path / "m.npz"), tmp_path / "h.json"
    out = _train(capsys, "--epochs", "30", "--val-split", "0.2", "--early-stopping", "1",
                 "--lr", "0.05", "--save", path, "--history", str(hist_path))
    hist = json.loads(hist_path.read_text())
    assert hist["stopped_epoch"] == len(hist["epoch"]) < 30
    assert "early stop at epoch %d" % hist["stopped_epoch"] in out
    best = hist["best_epoch"]
    assert hist["val_loss"][best - 1] == min(hist["val_loss"])
    # the saved weights are the best epoch's: its test accuracy again
    (_, _), (xt, tt) = __import__("fastnn.datasets", fromlist=["x"]).load_sample()
    net = load_checkpoint(path).network
    assert net.accuracy(xt.astype(np.float64), tt) == hist["test_acc"][best - 1]


@pytest.mark.parametrize("argv, factors", [
    (["--lr-schedule", "step", "--lr-step", "2", "--lr-gamma", "0.5"], [1, 1, 0.5]),
    (["--lr-schedule", "exponential", "--lr-gamma", "0.5"], [1, 0.5, 0.25]),
    (["--lr-schedule", "exponential"], [1, 0.95, 0.95 ** 2]),
    (["--lr-schedule", "inverse-time", "--lr-decay", "1"], [1, 1 / 2, 1 / 3]),
])
def test_lr_schedules(argv, factors, tmp_path, capsys):
    hist_path = tmp_path / "h.json"
    _train(capsys, "--epochs", "3", "--lr", "0.01", "--history", str(hist_path), *argv)
    assert json.loads(hist_path.read_text())["lr"] == pytest.approx([0.01 * f for f in factors])


def test_save_every_writes_atomic_checkpoints(tmp_path, capsys, monkeypatch):
    import fastnn.serialization as ser
    saved = []
    real = ser.save_network
    monkeypatch.setattr(ser, "save_network", lambda path, net, opt, **kw: saved.append(
        kw["extra"]["trainer"]["epoch"]) or real(path, net, opt, **kw))
    path = tmp_path / "m.npz"
    _train(capsys, "--epochs", "4", "--save", str(path), "--save-every", "2")
    assert saved == [2, 4, 4]          # every 2 epochs, then at the end
    assert load_checkpoint(str(path)).extra["trainer"]["epoch"] == 4
    assert not list(tmp_path.glob("*.part"))


@pytest.mark.e2e
def test_evaluate_prints_accuracy_confusion_and_per_class(tmp_path, capsys):
    path = str(tmp_path / "m.npz")
    _train(capsys, "--save", path, "--epochs", "2")
    out_dir = tmp_path / "figs"
    assert main(["evaluate", path, "--out", str(out_dir)]) == 0
    out = capsys.readouterr().out
    from fastnn.datasets import load_sample
    _, (xt, tt) = load_sample()
    net = load_checkpoint(path).network
    pred = np.argmax(net.predict(xt.astype(np.float64), train_flg=False), axis=1)
    acc = np.mean(pred == tt)
    assert "on sample: test accuracy %.4f" % acc in out
    rows = [ln.split()[-10:] for ln in out.splitlines()
            if ln.startswith("  ") and len(ln.split()) >= 12]
    counts = np.array(rows, dtype=int)
    assert counts.shape == (10, 10) and counts.sum() == len(tt)
    assert np.trace(counts) == np.sum(pred == tt)
    for c in (0, 6):
        assert "%.4f" % np.mean(pred[tt == c] == c) in out
    pytest.importorskip("matplotlib")
    assert sorted(os.listdir(out_dir)) == ["confusion.png", "misclassified.png"]
    assert main(["evaluate", str(tmp_path / "none.npz")]) == 2


# --- babysitting: resume, overrides, rollback --------------------------------

PACKAGE_PARENT = os.path.dirname(os.path.dirname(os.path.abspath(
    __import__("fastnn").__file__)))
BABY = ["--hidden", "20", "20", "--batch-size", "250", "--val-split", "0.2",
        "--augment", "shift=1", "--lr-schedule", "step", "--lr-step", "2", "--lr-gamma", "0.5",
        "--dropout", "0.1"]


@pytest.mark.e2e
def test_resumed_3_plus_3_equals_6_epochs_bit_for_bit(tmp_path, capsys):
    full, half = str(tmp_path / "full.npz"), str(tmp_path / "half.npz")
    assert main(["train"] + BABY + ["--epochs", "6", "--save", full]) == 0
    assert main(["train"] + BABY + ["--epochs", "3", "--save", half]) == 0
    capsys.readouterr()
    # the second half in a fresh process, as a user would run it
    res = subprocess.run([sys.executable, "-m", "fastnn", "train", "--resume", half,
                          "--epochs", "3"], capture_output=True, text=True, timeout=300,
                         env=dict(os.environ, PYTHONPATH=PACKAGE_PARENT), cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "from epoch 3" in res.stdout and "epoch  6" in res.stdout
    a, b = load_checkpoint(full), load_checkpoint(half)
    for key in a.network.params:
        np.testing.assert_array_equal(a.network.params[key], b.network.params[key])
    for name in ("m", "v"):
        for key, value in getattr(a.optimizer, name).items():
            np.testing.assert_array_equal(value, getattr(b.optimizer, name)[key])
    assert a.optimizer.iter == b.optimizer.iter
    ha, hb = a.extra["trainer"]["history"], b.extra["trainer"]["history"]
    for key in ("epoch", "iteration", "train_loss", "val_acc", "val_loss", "test_acc", "lr"):
        assert ha[key] == hb[key], key
    assert [e["kind"] for e in hb["events"]] == ["resume"]
    np.testing.assert_array_equal(a.rng_state[1], b.rng_state[1])


def test_resume_overrides_are_recorded_and_fixed_options_refused(tmp_path, capsys):
    path, hist_path = str(tmp_path / "m.npz"), tmp_path / "h.json"
    _train(capsys, "--val-split", "0.2", "--epochs", "2", "--save", path, "--lr", "0.002")
    assert main(["train", "--resume", path, "--epochs", "1", "--lr", "0.0005",
                 "--weight-decay", "0.01", "--history", str(hist_path)]) == 0
    out = capsys.readouterr().out
    assert "from epoch 2" in out and "epoch  3" in out
    hist = json.loads(hist_path.read_text())
    assert hist["lr"] == [0.002, 0.002, 0.0005]
    assert hist["events"] == [{"epoch": 2, "kind": "resume", "changes": {
        "lr": [0.002, 0.0005], "weight_decay": [0.0, 0.01]}}]
    ckpt = load_checkpoint(path)     # the resume saved back to the same file
    assert ckpt.network.weight_decay_lambda == 0.01 and ckpt.optimizer.lr == 0.0005
    assert ckpt.extra["trainer"]["epoch"] == 3
    for argv, option in ((["--hidden", "30"], "--hidden"), (["--seed", "1"], "--seed"),
                         (["--dataset", "mnist"], "--dataset"),
                         (["--val-split", "0.3"], "--val-split")):
        assert main(["train", "--resume", path] + argv) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("fastnn train: error: argument %s: cannot change" % option)


def test_rollback_best_continues_from_the_best_validation_epoch(tmp_path, capsys):
    path = str(tmp_path / "m.npz")
    # lr 0.05 overshoots after a few epochs on this net: the best epoch is not the last
    _train(capsys, "--val-split", "0.2", "--epochs", "5", "--lr", "0.05", "--save", path)
    latest = load_checkpoint(path).extra["trainer"]["history"]
    best = int(np.argmax(latest["val_acc"])) + 1
    assert best < 5
    assert main(["train", "--resume", path, "--rollback-best", "--lr", "0.005",
                 "--epochs", "1"]) == 0
    out = capsys.readouterr().out
    assert "from epoch %d" % best in out and "epoch %2d" % (best + 1) in out
    hist = load_checkpoint(path).extra["trainer"]["history"]
    assert hist["epoch"] == list(range(1, best + 2))
    assert hist["val_acc"][:best] == latest["val_acc"][:best]
    rollback, resume = hist["events"]
    assert rollback["kind"] == "rollback" and rollback["epoch"] == best
    assert rollback["from_epoch"] == 5
    assert rollback["discarded"]["val_acc"] == latest["val_acc"][best:]
    assert resume["changes"] == {"lr": [0.05, 0.005]}


def test_rollback_best_prints_the_epochs_it_discarded(tmp_path, capsys):
    path = str(tmp_path / "m.npz")
    _train(capsys, "--val-split", "0.2", "--epochs", "5", "--lr", "0.05", "--save", path)
    val_acc = load_checkpoint(path).extra["trainer"]["history"]["val_acc"]
    best = int(np.argmax(val_acc)) + 1
    assert main(["train", "--resume", path, "--rollback-best", "--epochs", "1"]) == 0
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("rollback:")]
    span = "epoch 5" if best == 4 else "epochs %d-5" % (best + 1)
    assert lines == ["rollback: back to epoch %d, the best validation accuracy (%.4f); "
                     "discarded %s (val acc %s)" % (best, val_acc[best - 1], span, " ".join(
                         "%.4f" % v for v in val_acc[best:]))]


@pytest.mark.parametrize("optimizer, lr", [("sgd", 0.01), ("momentum", 0.01),
                                           ("nesterov", 0.01), ("adagrad", 0.01),
                                           ("rmsprop", 0.01), ("adam", 0.001)])
def test_cli_default_lr_is_each_optimizers_own(optimizer, lr, tmp_path, capsys):
    path = str(tmp_path / "m.npz")
    out = _train(capsys, "--optimizer", optimizer, "--save", path)
    assert "%s lr %g," % (optimizer, lr) in out.splitlines()[0]
    assert load_checkpoint(path).optimizer.lr == lr


def test_cli_output_counts_1_epoch_1_step_1_figure_in_the_singular(tmp_path, capsys):
    out = _train(capsys, "--batch-size", "5000")
    assert "adam lr 0.001, 1 epoch of 1 step\n" in out
    assert main(["run", "optimizers-2d", "--set", "steps=1", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.count(" of 1 step\n") == 6 and "steps" not in out
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        assert "; 0 figures, numbers in" in out
    else:
        assert "; 1 figure, numbers in" in out


# --- the rest of the command line -------------------------------------------

def test_version(capsys):
    import fastnn
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == "fastnn %s" % fastnn.__version__


@pytest.mark.parametrize("command", ["train", "run", "evaluate"])
def test_every_option_of_my_commands_shows_its_default(command):
    sub = _subparser(command)
    fmt = sub._get_formatter()
    for action in sub._actions:
        if not action.option_strings or action.nargs == 0 or action.default in (None, []):
            continue       # flags, --help, options without a default (--save, --set ...)
        assert "default" in fmt._get_help_string(action), (command, action.option_strings)


@pytest.mark.parametrize("argv, option", [
    (["run", "init", "--seed", "x"], "--seed"),
    (["run", "init", "--blas-threads", "-1"], "--blas-threads"),
    (["evaluate", "m.npz", "--misclassified", "-1"], "--misclassified"),
])
def test_run_and_evaluate_check_their_arguments(argv, option, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert _error_line(capsys).startswith("fastnn %s: error: argument %s" % (argv[0], option))


def test_run_set_errors_are_one_line(capsys):
    assert main(["run", "all", "--set", "epochs=1"]) == 2
    assert main(["run", "init", "--set", "novalue"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(e.startswith("fastnn run: error: argument --set:")
                                 for e in err)


def _refused(capsys, argv):
    """The error line of ``fastnn ARGV``, which must exit 2 (argparse prints its usage
    first; a check after parsing prints that line alone) without a traceback."""
    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err, err
    return err.strip().splitlines()[-1]


@pytest.mark.parametrize("argv", [
    ["train", "--seed", "-1"], ["train", "--seed", str(2 ** 32)],
    ["run", "init", "--seed", "-1"], ["run", "init", "--seed", str(2 ** 32)],
])
def test_cli_rejects_seeds_outside_0_to_2_pow_32(argv, capsys):
    assert _refused(capsys, argv) == "fastnn %s: error: argument --seed: must be in " \
                                     "[0, 2**32), got %s" % (argv[0], argv[-1])


@pytest.mark.parametrize("setting, expected", [
    ("iterations=abc", "setting 'iterations': expected a positive integer, got 'abc'"),
    ("iterations=-5", "setting 'iterations': expected a positive integer, got -5"),
    ("hidden=abc", "setting 'hidden': expected a non-empty list of positive integers"),
    ("hidden=[100,0]", "setting 'hidden': expected a non-empty list of positive integers"),
    ("lr=0", "setting 'lr': expected a number > 0, got 0"),
    ("inits={'He':'xavie'}", "setting 'inits': expected a non-empty dict of label: a weight "
                             "std > 0 or one of 'he', 'xavier'"),
    ("tail=1.5", "setting 'tail': expected a positive integer, got 1.5"),
])
def test_cli_rejects_experiment_settings_of_the_wrong_kind_before_running(setting, expected,
                                                                         tmp_path, capsys):
    line = _refused(capsys, ["run", "init", "--quick", "--out", str(tmp_path / "r"),
                             "--set", setting])
    assert line.startswith("fastnn run: error: argument --set: " + expected), line
    assert not (tmp_path / "r").exists()


def test_every_experiment_setting_has_a_kind_that_its_defaults_pass():
    from fastnn.experiments import get, names
    from fastnn.experiments._settings import resolve
    for name in names():
        mod = get(name)
        assert resolve(mod, quick=True, overrides=dict(mod.DEFAULTS)) == mod.DEFAULTS
    from fastnn.experiments import optimizers, optimizers_2d, init_histograms
    assert resolve(optimizers, overrides={"optimizers": {"SGD": {"lr": 0.1}}})
    for mod, bad in ((optimizers, {"optimizers": {"SGD": {"lx": 0.1}}}),
                     (optimizers, {"optimizers": {"Foo": {}}}),
                     (optimizers_2d, {"lr": {"Adam": -1}}),
                     (optimizers_2d, {"start": (1, "x")}),
                     (init_histograms, {"cases": [["relu", "elu", "He", "he"]]})):
        with pytest.raises(ValueError, match="setting '%s': expected" % next(iter(bad))):
            resolve(mod, overrides=bad)


def test_cli_run_set_beyond_memory_is_one_line(tmp_path, capsys):
    line = _refused(capsys, ["run", "init", "--quick", "--out", str(tmp_path),
                             "--set", "hidden=[1000000000000]"])
    assert line.startswith("fastnn run: error: argument --set: not enough memory"), line


@pytest.mark.parametrize("argv", [["--hidden", "1000000000000"],
                                  ["--hidden", "100000", "100000", "100000"],
                                  ["--model", "simple-convnet", "--hidden", "1000000000"]])
def test_cli_rejects_hidden_layers_larger_than_memory(argv, capsys):
    line = _refused(capsys, ["train"] + argv)
    assert line.startswith("fastnn train: error: argument --hidden: ")
    assert "hidden layers of" in line and "GiB of memory" in line


def test_cli_init_error_lists_the_valid_names(capsys):
    line = _refused(capsys, ["train", "--init", "xavie"])
    assert line == ("fastnn train: error: argument --init: expected he, xavier (or the book's "
                    "relu, sigmoid) or a standard deviation std:S with S > 0, got 'xavie'")
    assert _subparser("train").parse_args(["--init", "sigmoid"]).init == "xavier"
    assert _subparser("train").parse_args(["--init", "0.05"]).init == "std:0.05"


def test_cli_rejects_augmentation_wider_than_the_images(capsys):
    line = _refused(capsys, ["train", "--augment", "crop=28"])
    assert line == ("fastnn train: error: argument --augment: crop=N: must be an integer "
                    "from 1 to 27, got 28 (the images are 28 pixels wide)")


@pytest.mark.parametrize("command", [["evaluate"], ["train", "--resume"]])
def test_cli_names_a_directory_given_as_a_checkpoint(command, tmp_path, capsys):
    line = _refused(capsys, command + [str(tmp_path)])
    assert line.endswith(": %s is a directory, expected a file written by fastnn train "
                         "--save" % tmp_path), line


@pytest.mark.parametrize("argv", [["run", "init", "--set", "iterations=2"],
                                  ["evaluate", "m.npz"]])
@pytest.mark.parametrize("below", ["", "sub"])
def test_cli_rejects_an_out_folder_that_is_a_file_before_any_work(argv, below, tmp_path,
                                                                  capsys, monkeypatch):
    import fastnn.experiments
    monkeypatch.setattr(fastnn.experiments, "run_experiment", None)    # never reached
    f = tmp_path / "results"
    f.write_text("x")
    out = f / below if below else f
    line = _refused(capsys, argv + ["--out", str(out)])
    assert line.startswith("fastnn %s: error: argument --out: %s is a file, expected a folder"
                           % (argv[0], f)), line


@pytest.mark.e2e
def test_monitor_val_acc_and_reference_backend(tmp_path, capsys):
    hist_path = tmp_path / "h.json"
    out = _train(capsys, "--backend", "reference", "--val-split", "0.2", "--epochs", "3",
                 "--early-stopping", "5", "--monitor", "val_acc", "--history", str(hist_path))
    assert "backend reference" in out
    hist = json.loads(hist_path.read_text())
    assert hist["monitor"] == "val_acc" and hist["best_value"] == max(hist["val_acc"])


def test_early_stopping_patience_carries_across_a_resume(tmp_path, capsys):
    path, hist_path = str(tmp_path / "m.npz"), tmp_path / "h.json"
    _train(capsys, "--val-split", "0.2", "--epochs", "5", "--lr", "0.05", "--save", path,
           "--early-stopping", "2", "--monitor", "val_acc")
    first = load_checkpoint(path).extra["trainer"]["history"]
    # this seed: best at epoch 4, epoch 5 worse (one epoch of patience used)
    assert first["best_epoch"] == 4 and first["stopped_epoch"] is None
    assert main(["train", "--resume", path, "--epochs", "10", "--history",
                 str(hist_path)]) == 0
    out = capsys.readouterr().out
    hist = json.loads(hist_path.read_text())
    # epoch 6 is no better than epoch 4: the second epoch without improvement
    assert hist["val_acc"][5] <= hist["val_acc"][3]
    assert hist["stopped_epoch"] == 6 and hist["best_epoch"] == 4
    assert "best epoch 4 not restored" in out


def test_resume_refuses_a_network_file_not_written_by_train(tmp_path, capsys):
    from fastnn.multi_layer_net_extend import MultiLayerNetExtend
    from fastnn.serialization import save_network
    path = str(tmp_path / "net.npz")
    save_network(path, MultiLayerNetExtend(784, [10], 10))
    np.savez(str(tmp_path / "plain.npz"), a=np.zeros(3))
    assert main(["train", "--resume", path]) == 2
    assert main(["train", "--resume", str(tmp_path / "plain.npz")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[0] == "fastnn train: error: argument --resume: %s was not written by " \
                     "fastnn train --save" % path
    assert err[1].startswith("fastnn train: error: argument --resume: cannot read")


def test_evaluate_without_matplotlib_prints_and_says_so(tmp_path, capsys, monkeypatch):
    path = str(tmp_path / "m.npz")
    _train(capsys, "--save", path)
    for name in ("matplotlib", "matplotlib.figure", "matplotlib.backends.backend_agg"):
        monkeypatch.setitem(sys.modules, name, None)
    assert main(["evaluate", path, "--out", str(tmp_path / "figs")]) == 0
    out = capsys.readouterr().out
    assert "test accuracy" in out and "no figures:" in out and "matplotlib" in out
    assert not (tmp_path / "figs").exists()
