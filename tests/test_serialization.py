"""Saving and loading networks and optimizers: round trips, resume, and files
that must be refused (fastnn.serialization)."""
import functools
import json
import os
import re
import stat
import subprocess
import sys
import zipfile

import numpy as np
import pytest

from fastnn.deep_convnet import DeepConvNet
from fastnn.multi_layer_net import MultiLayerNet
from fastnn.multi_layer_net_extend import MultiLayerNetExtend
from fastnn.serialization import (load_checkpoint, load_network, load_network_state,
                                  network_state, save_network)
from fastnn.simple_convnet import SimpleConvNet
from fastnn.trainer import Trainer, make_optimizer

BACKENDS = ["fast", "reference"]


def _data(n=240, n_test=60, d=16, classes=4, seed=0):
    """Four noisy clusters in 16 dimensions: (x, t) for training and for testing."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, n + n_test)
    x = 2.0 * rng.standard_normal((classes, d))[labels] + rng.standard_normal((n + n_test, d))
    return (x[:n], labels[:n]), (x[n:], labels[n:])


def _net(seed=0, backend="fast", hidden=(20, 20), **kw):
    np.random.seed(seed)
    kw.setdefault("use_batchnorm", True)
    return MultiLayerNetExtend(16, list(hidden), 4, backend=backend, **kw)


def _trained(tmp_path, optimizer="adam", hidden=(20, 20), name="ckpt.npz"):
    """A checkpoint of a briefly trained BN network with its optimizer; its path."""
    (x, t), _ = _data()
    net = _net(hidden=hidden)
    opt = make_optimizer(optimizer, {"lr": 0.01})
    for i in range(3):
        opt.update(net.params, net.gradient(x[i * 30:(i + 1) * 30], t[i * 30:(i + 1) * 30]))
    path = tmp_path / name
    save_network(path, net, opt, rng=True)
    return path, net, opt


def _rewrite(path, meta_fn=None, arrays_fn=None):
    """Rewrite a checkpoint's __meta__ JSON and/or arrays, as an attacker could."""
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files}
    meta = json.loads(str(arrays.pop("__meta__")))
    if meta_fn is not None:
        meta_fn(meta)
    if arrays_fn is not None:
        arrays_fn(arrays)
    np.savez(path, __meta__=np.array(json.dumps(meta)), **arrays)


# --- round trips and resume ----------------------------------------------------------

@pytest.mark.parametrize("backend", BACKENDS)
def test_saved_network_predicts_the_same(tmp_path, backend):
    (x, t), (xt, tt) = _data()
    net = _net(4, backend=backend, use_dropout=True, dropout_ration=0.3,
               weight_decay_lambda=0.01, label_smoothing=0.05)
    Trainer(net, x, t, xt, tt, epochs=2, mini_batch_size=60, verbose=False,
            optimizer="adam").train()
    path = tmp_path / "net.npz"
    save_network(path, net)
    state = np.random.get_state()
    loaded = load_network(path)
    assert np.random.get_state()[2] == state[2]          # loading draws nothing
    assert type(loaded) is MultiLayerNetExtend and loaded.backend.name == backend
    assert loaded.use_batchnorm and loaded.use_dropout and loaded.dropout_ration == 0.3
    assert loaded.weight_decay_lambda == 0.01 and loaded.last_layer.label_smoothing == 0.05
    np.testing.assert_array_equal(loaded.predict(xt), net.predict(xt))
    assert loaded.loss(xt, tt) == net.loss(xt, tt)
    bn, bn2 = net.layers["BatchNorm2"], loaded.layers["BatchNorm2"]
    np.testing.assert_array_equal(bn.running_var, bn2.running_var)
    assert np.any(bn.running_var != 0)
    other = load_network(path, backend="reference" if backend == "fast" else "fast")
    np.testing.assert_allclose(other.predict(xt), net.predict(xt), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
def test_multilayernet_roundtrip(tmp_path, backend):
    np.random.seed(1)
    net = MultiLayerNet(16, [9, 7], 4, activation="sigmoid", backend=backend,
                        dtype=np.float32)
    save_network(tmp_path / "m.npz", net)
    loaded = load_network(tmp_path / "m.npz")
    assert type(loaded) is MultiLayerNet and loaded.dtype == np.float32
    x = _data()[1][0]
    np.testing.assert_array_equal(loaded.predict(x.astype(np.float32)),
                                  net.predict(x.astype(np.float32)))


@pytest.mark.parametrize("optimizer,param", [("adam", {"lr": 0.01}),
                                             ("momentum", {"lr": 0.05}),
                                             ("adagrad", {"lr": 0.05}),
                                             ("rmsprop", {"lr": 0.01}),
                                             ("nesterov", {"lr": 0.05})])
def test_resume_training_is_identical(tmp_path, optimizer, param):
    (x, t), (xt, tt) = _data()
    k = 7

    def trainer(net, opt):
        return Trainer(net, x, t, xt, tt, epochs=100, mini_batch_size=30, verbose=False,
                       optimizer=opt, optimizer_param=param)

    straight = _net(5, use_dropout=True, dropout_ration=0.2)
    np.random.seed(42)
    tr = trainer(straight, optimizer)
    for _ in range(2 * k):
        tr.train_step()

    first = _net(5, use_dropout=True, dropout_ration=0.2)
    np.random.seed(42)
    tr1 = trainer(first, optimizer)
    for _ in range(k):
        tr1.train_step()
    path = tmp_path / "ckpt.npz"
    save_network(path, first, tr1.optimizer, rng=True, extra={"step": k})
    np.random.seed(999)                       # a new process would start anywhere
    ckpt = load_checkpoint(path, restore_rng=True)
    net2, opt2, extra = ckpt
    assert extra == {"step": k} and type(opt2).__name__.lower() == optimizer
    assert opt2 is not tr1.optimizer
    tr2 = trainer(net2, opt2)
    for _ in range(k):
        tr2.train_step()
    for key in straight.params:
        np.testing.assert_array_equal(net2.params[key], straight.params[key], err_msg=key)
    np.testing.assert_array_equal(tr2.train_loss_list, tr.train_loss_list[k:])
    for name in ("BatchNorm1", "BatchNorm2"):
        np.testing.assert_array_equal(net2.layers[name].running_mean,
                                      straight.layers[name].running_mean)


def test_save_is_atomic_and_load_rejects_other_files(tmp_path, monkeypatch):
    net = _net()
    path = tmp_path / "n.npz"
    save_network(path, net)
    before = path.read_bytes()
    # a failure half-way leaves the old file intact and no temporary behind
    monkeypatch.setattr(np, "savez", lambda fh, **kw: (fh.write(b"junk"), 1 / 0))
    with pytest.raises(ZeroDivisionError):
        save_network(path, _net(1))
    monkeypatch.undo()
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["n.npz"]
    np.savez(tmp_path / "other.npz", a=np.zeros(3))
    with pytest.raises(ValueError, match="not a fastnn network file"):
        load_network(tmp_path / "other.npz")
    assert network_state(net).keys() == {"param/" + k for k in net.params}
    net.gradient(np.ones((2, 16)), np.array([0, 1]))
    state = network_state(net)
    assert set(k for k in state if k.startswith("bn/")) == {
        "bn/BatchNorm%d/%s" % (i, a) for i in (1, 2) for a in ("running_mean", "running_var")}


# --- a loaded file names data, never code ---------------------------------------------

def test_checkpoint_cannot_name_os_system(tmp_path, monkeypatch):
    path, _, _ = _trained(tmp_path)
    marker = tmp_path / "pwned"
    monkeypatch.chdir(tmp_path)

    def evil(meta):
        meta["optimizer"]["class"] = "os:system"
        meta["optimizer"]["name"] = "system"
        meta["optimizer"]["hyperparams"] = {"command": "echo pwned > %s" % marker}
    _rewrite(path, evil)
    with pytest.raises(ValueError, match="os:system") as info:
        load_checkpoint(path)
    assert "fastnn's own optimizers" in str(info.value)
    assert not marker.exists()


def test_checkpoint_cannot_name_numpy_savez(tmp_path, monkeypatch):
    path, _, _ = _trained(tmp_path)
    monkeypatch.chdir(tmp_path)
    target = tmp_path / "written_by_the_file.npz"

    def evil_optimizer(meta):
        meta["optimizer"]["class"] = "numpy:savez"
        meta["optimizer"]["hyperparams"] = {"file": str(target)}

    def evil_network(meta):
        meta["network"]["class"] = "numpy:savez"
        meta["network"]["kwargs"] = {"file": str(target)}
    for evil, what in ((evil_optimizer, "optimizer"), (evil_network, "network")):
        fresh, _, _ = _trained(tmp_path, name="%s.npz" % what)
        _rewrite(fresh, evil)
        with pytest.raises(ValueError, match="numpy:savez") as info:
            load_checkpoint(fresh)
        assert "fastnn's own %ss" % what in str(info.value)
        assert not target.exists()


@pytest.mark.parametrize("change,words", [
    (lambda m: m["network"]["kwargs"].update(evil="x"), ["no argument 'evil'"]),
    (lambda m: m["network"]["kwargs"].update(activation={"a": [1]}), ["activation"]),
    (lambda m: m["network"]["kwargs"].update(hidden_size_list=["20", "20"]),
     ["hidden_size_list"]),
    (lambda m: m["optimizer"]["hyperparams"].update(lr="0.1"), ["lr", "finite number"]),
    (lambda m: m["optimizer"]["hyperparams"].update(lr=None), ["lr"]),
    (lambda m: m["optimizer"]["hyperparams"].update(command="ls"), ["no argument 'command'"]),
    (lambda m: m["optimizer"]["scalars"].update(iter=-1), ["scalars"]),
    (lambda m: m["optimizer"].update(state_dicts=["__dict__"]), ["state_dicts"]),
    (lambda m: m["network"]["kwargs"].update(activation="swish"), ["activation"]),
    (lambda m: m["network"].update(kwargs=[1, 2]), ["keyword arguments"]),
    (lambda m: m["rng"].update(pos=10 ** 6), ["np.random"]),
])
def test_checkpoint_hyperparams_are_checked(tmp_path, change, words):
    path, _, _ = _trained(tmp_path)
    _rewrite(path, change)
    state = np.random.get_state()
    with pytest.raises(ValueError) as info:
        load_checkpoint(path, restore_rng=True)
    for word in words:
        assert word in str(info.value)
    assert str(path) in str(info.value)
    assert np.array_equal(np.random.get_state()[1], state[1])


def test_only_registered_classes_are_saved(tmp_path):
    class Mine(MultiLayerNetExtend):
        pass

    class MyAdam(make_optimizer("adam").__class__):
        pass
    np.random.seed(0)
    with pytest.raises(TypeError, match="fastnn's own networks"):
        save_network(tmp_path / "a.npz", Mine(16, [4], 4))
    with pytest.raises(TypeError, match="optimizers of fastnn's backends"):
        save_network(tmp_path / "b.npz", _net(), MyAdam())
    assert os.listdir(tmp_path) == []


def test_loading_refuses_object_arrays(tmp_path):
    path, _, _ = _trained(tmp_path)
    _rewrite(path, arrays_fn=lambda a: a.update({"param/W1": np.array([{"x": 1}], dtype=object)}))
    with pytest.raises(ValueError) as info:
        load_checkpoint(path)
    assert "pickle" not in str(info.value).lower()
    assert "not a complete fastnn checkpoint" in str(info.value)


# --- loads are all or nothing; damaged files; what a save writes -----------------------

def _snapshot(net):
    return {k: np.array(v, copy=True) for k, v in network_state(net).items()}


def _unchanged(net, before):
    after = network_state(net)
    return after.keys() == before.keys() and all(
        np.array_equal(after[k], before[k]) for k in before)


def test_two_hidden_layers_into_three_is_refused():
    small, big = _net(1, hidden=(20, 20)), _net(2, hidden=(20, 20, 20))
    big.gradient(np.ones((3, 16)), np.array([0, 1, 2]))      # BN statistics exist
    before = _snapshot(big)
    with pytest.raises(ValueError) as info:
        load_network_state(big, network_state(small))
    msg = str(info.value)
    for key in ("param/W4", "param/b4", "param/gamma3", "param/beta3"):
        assert key in msg
    assert "missing" in msg and "mismatched" in msg and "param/W3" in msg
    assert _unchanged(big, before)


def test_mismatch_after_the_first_keys_writes_nothing():
    net, other = _net(1), _net(2)
    state = network_state(other)
    state["param/W3"] = np.zeros((5, 4))                    # the last one checked
    state["param/Wx"] = np.zeros(3)
    before = _snapshot(net)
    with pytest.raises(ValueError) as info:
        load_network_state(net, state)
    msg = str(info.value)
    assert "param/W3: shape (5, 4) in the file, (20, 4) in the network" in msg
    assert "extra param/Wx" in msg
    assert _unchanged(net, before)


@pytest.mark.parametrize("change,words", [
    (lambda a: a.pop("param/b3"), ["missing param/b3"]),
    (lambda a: a.update({"param/W9": np.zeros(2)}), ["extra param/W9"]),
    (lambda a: a.update({"junk": np.zeros(2)}), ["extra array 'junk'"]),
    (lambda a: a.update({"param/W2": np.zeros((3, 3))}), ["param/W2", "(3, 3)"]),
    (lambda a: a.pop("bn/BatchNorm1/running_var"), ["missing bn/BatchNorm1/running_var"]),
    (lambda a: a.update({"optim/m/W1": np.zeros(4)}), ["optim/m/W1", "(4,)"]),
    (lambda a: a.update({"optim/m/W7": np.zeros(4)}), ["extra optim/m/W7"]),
    (lambda a: a.update({"param/W1": np.full((16, 20), "x")}), ["param/W1", "not an array"]),
])
def test_checkpoint_arrays_are_checked_before_anything_changes(tmp_path, change, words):
    path, _, _ = _trained(tmp_path)
    _rewrite(path, arrays_fn=change)
    state = np.random.get_state()
    with pytest.raises(ValueError) as info:
        load_checkpoint(path, restore_rng=True)
    for word in words:
        assert word in str(info.value)
    assert np.array_equal(np.random.get_state()[1], state[1])


def _truncated(path):
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])


def _flipped(path):
    data = bytearray(path.read_bytes())
    data[0] ^= 0xFF
    path.write_bytes(bytes(data))


def _empty(path):
    path.write_bytes(b"")


def _bad_crc(path):
    data = bytearray(path.read_bytes())
    data[len(data) // 3] ^= 0x01
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("damage", [_truncated, _flipped, _empty, _bad_crc])
def test_damaged_file_is_not_a_complete_checkpoint(tmp_path, damage):
    path, _, _ = _trained(tmp_path)
    damage(path)
    with pytest.raises(ValueError) as info:
        load_checkpoint(path)
    msg = str(info.value)
    assert "not a complete fastnn checkpoint" in msg and str(path) in msg
    assert "pickle" not in msg.lower()


def test_compressed_members_are_refused(tmp_path):
    path, _, _ = _trained(tmp_path)
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files}
    np.savez_compressed(path, **arrays)
    with pytest.raises(ValueError, match="not a complete fastnn checkpoint.*stored"):
        load_checkpoint(path)


def test_save_below_a_file_says_so(tmp_path):
    (tmp_path / "afile").write_text("x")
    for target in (tmp_path / "afile" / "n.npz", tmp_path / "afile" / "sub" / "n.npz"):
        with pytest.raises(NotADirectoryError) as info:
            save_network(target, _net())
        assert "%s is a file, not a directory" % (tmp_path / "afile") in str(info.value)
    assert (tmp_path / "afile").read_text() == "x"
    (tmp_path / "adir").mkdir()
    with pytest.raises(IsADirectoryError, match="cannot write %s: it is a directory"
                       % (tmp_path / "adir")):
        save_network(tmp_path / "adir", _net())
    assert os.listdir(tmp_path / "adir") == []


_KILLED_SAVER = r"""
import sys, time
import numpy as np
sys.path.insert(0, %(root)r)
from fastnn.multi_layer_net_extend import MultiLayerNetExtend
from fastnn.serialization import save_network
def stall(fh, **arrays):
    fh.write(b"PK\x03\x04 half written")
    fh.flush()
    print("writing", flush=True)
    time.sleep(60)
np.savez = stall
save_network(%(path)r, MultiLayerNetExtend(16, [8], 4))
"""


def _temporaries(directory):
    return sorted(f for f in os.listdir(directory) if f.endswith(".part"))


def test_save_leaves_other_writers_temporary_files_alone(tmp_path):
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    path = tmp_path / "n.npz"
    save_network(path, _net())
    before = path.read_bytes()
    proc = subprocess.Popen([sys.executable, "-c", _KILLED_SAVER % {
        "root": root, "path": str(path)}], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "writing"
    proc.kill()                                         # kill -9: no cleanup runs
    proc.wait()
    proc.stdout.close()
    assert path.read_bytes() == before                  # the target is intact
    # A writer in another PID namespace (a container, another host on a shared
    # directory): its PID means nothing here, so its file must be left alone.
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    others = [".n.npz.%d.abcdefgh.part" % dead.pid, ".n.npz.legacyab.part"]
    for name in others:
        (tmp_path / name).write_bytes(b"another writer's data")
    left = _temporaries(tmp_path)
    assert len(left) == 3
    save_network(path, _net(3))
    assert _temporaries(tmp_path) == left
    assert all((tmp_path / name).read_bytes() == b"another writer's data" for name in others)
    assert load_network(path).params["W1"].shape == (16, 20)


def test_save_temporary_name_is_random_not_the_pid(tmp_path, monkeypatch):
    seen = []
    real_savez = np.savez

    def spy(fh, **arrays):
        seen.extend(_temporaries(tmp_path))
        real_savez(fh, **arrays)
    monkeypatch.setattr(np, "savez", spy)
    for _ in range(2):
        save_network(tmp_path / "n.npz", _net())
    assert len(seen) == 2 and seen[0] != seen[1]
    for name in seen:
        assert name.startswith(".n.npz.") and str(os.getpid()) not in name
    assert os.listdir(tmp_path) == ["n.npz"]


@pytest.mark.parametrize("link", ["relative", "absolute", "chain"])
def test_save_writes_through_symlink(tmp_path, monkeypatch, link):
    (tmp_path / "real").mkdir()
    (tmp_path / "links").mkdir()
    target = tmp_path / "real" / "n.npz"
    save_network(target, _net())
    path = tmp_path / "links" / "n.npz"
    if link == "chain":
        os.symlink(target, tmp_path / "links" / "first.npz")
        os.symlink("first.npz", path)
    else:
        os.symlink(os.path.join("..", "real", "n.npz") if link == "relative" else target, path)
    during = []
    real_savez = np.savez

    def spy(fh, **arrays):
        during.append((_temporaries(tmp_path / "real"), _temporaries(tmp_path / "links")))
        real_savez(fh, **arrays)
    monkeypatch.setattr(np, "savez", spy)
    net = _net(5)
    save_network(path, net)
    assert during[0][0] and not during[0][1]     # the temporary sat in the target's directory
    assert os.path.islink(path) and os.path.realpath(path) == str(target)
    np.testing.assert_array_equal(load_network(target).params["W1"], net.params["W1"])
    assert not _temporaries(tmp_path / "real") and not _temporaries(tmp_path / "links")


def test_save_through_dangling_symlink_creates_its_target(tmp_path):
    os.symlink("made.npz", tmp_path / "n.npz")
    save_network(tmp_path / "n.npz", _net())
    assert os.path.islink(tmp_path / "n.npz") and (tmp_path / "made.npz").is_file()


def _special_file(tmp_path, kind):
    """A FIFO, or a twin of /dev/null (a character device, made only as root)."""
    path = tmp_path / kind
    if kind == "fifo":
        os.mkfifo(path)
    else:
        if not hasattr(os, "geteuid") or os.geteuid() != 0:
            pytest.skip("making a device node needs root")
        os.mknod(path, stat.S_IFCHR | 0o600, os.makedev(1, 3))
    return path


@pytest.mark.parametrize("kind,words", [("fifo", "a FIFO (named pipe)"),
                                        ("chardev", "a character device")])
@pytest.mark.parametrize("via_link", [False, True])
def test_save_refuses_device_file(tmp_path, kind, words, via_link):
    special = _special_file(tmp_path, kind)
    path = special
    if via_link:
        path = tmp_path / "link.npz"
        os.symlink(special, path)
    mode = os.lstat(special).st_mode
    with pytest.raises(OSError, match=re.escape("cannot write %s" % path) + ".*"
                       + re.escape(": it is %s, not a regular file" % words)):
        save_network(path, _net())
    assert os.lstat(special).st_mode == mode          # still the same node, not a file
    assert os.path.islink(path) == via_link
    assert not _temporaries(tmp_path)


@pytest.mark.parametrize("kind,words", [("fifo", "a FIFO (named pipe)"),
                                        ("chardev", "a character device")])
def test_load_checkpoint_refuses_fifo_and_device_at_once(tmp_path, kind, words):
    import threading
    special = _special_file(tmp_path, kind)
    outcome = []

    def load():
        try:
            load_checkpoint(special)
        except Exception as exc:        # noqa: BLE001 - the test looks at what it was
            outcome.append(exc)
    reader = threading.Thread(target=load, daemon=True)
    reader.start()
    reader.join(10)
    blocked = reader.is_alive()
    if blocked and kind == "fifo":    # release the reader: a writer opens and closes the FIFO
        os.close(os.open(special, os.O_WRONLY | os.O_NONBLOCK))
        reader.join(10)
    assert not blocked, "load_checkpoint waited on the %s" % kind
    assert len(outcome) == 1 and isinstance(outcome[0], OSError)
    assert "cannot read %s: it is %s, not a regular file" % (special, words) in str(outcome[0])


class TinyConvLike:
    """A network in the shape of the book's SimpleConvNet: a tuple and a dict among
    its constructor arguments, kept as attributes of the same names."""

    def __init__(self, input_dim=(1, 4, 4), conv_param={"filter_num": 2, "pad": 0},  # noqa: B006
                 hidden_size=3, *, backend=None, dtype=np.float64):
        from fastnn._backend import get_backend
        self.input_dim, self.conv_param = tuple(input_dim), dict(conv_param)
        self.hidden_size = hidden_size
        self.backend, self.dtype = get_backend(backend), np.dtype(dtype)
        size = int(np.prod(self.input_dim)) * self.conv_param["filter_num"]
        self.params = {"W1": np.random.randn(size, hidden_size).astype(dtype)}
        self.layers = {}


def test_a_network_is_registered_in_one_line(tmp_path, monkeypatch):
    import fastnn.serialization as ser
    monkeypatch.setitem(ser.NETWORKS, __name__ + ":TinyConvLike", ser.attribute_config)
    np.random.seed(3)
    net = TinyConvLike((1, 3, 3), {"filter_num": 4, "pad": 1}, 5, dtype=np.float32)
    save_network(tmp_path / "t.npz", net)
    loaded = load_network(tmp_path / "t.npz", backend="reference")
    assert type(loaded) is TinyConvLike and loaded.backend.name == "reference"
    assert (loaded.input_dim, loaded.conv_param, loaded.hidden_size, loaded.dtype) == \
        ((1, 3, 3), {"filter_num": 4, "pad": 1}, 5, np.float32)
    np.testing.assert_array_equal(loaded.params["W1"], net.params["W1"])


def test_sizes_are_checked_before_the_network_is_built(tmp_path, monkeypatch):
    path, _, _ = _trained(tmp_path)
    _rewrite(path, lambda m: m["network"]["kwargs"].update(hidden_size_list=[3000, 3000]))

    @functools.wraps(MultiLayerNetExtend.__init__)       # same signature
    def refuse(*args, **kwargs):
        raise AssertionError("the network must not be built")
    monkeypatch.setattr(MultiLayerNetExtend, "__init__", refuse)
    with pytest.raises(ValueError) as info:
        load_checkpoint(path)
    assert "param/W1: shape (16, 20) in the file, (16, 3000) in the network" in str(info.value)
    _rewrite(path, lambda m: m["network"]["kwargs"].update(hidden_size_list=7))
    monkeypatch.undo()
    with pytest.raises(ValueError, match="network settings are invalid"):
        load_checkpoint(path)


def test_random_damage_is_refused_cleanly(tmp_path):
    # flipped bits and truncations anywhere: a ValueError, or (when only zip
    # metadata such as a time stamp was hit) exactly the saved network
    path, net, _ = _trained(tmp_path)
    good = path.read_bytes()
    rng = np.random.default_rng(0)
    outcomes = set()
    for trial in range(300):
        data = bytearray(good)
        if trial % 3 == 0:
            data = data[:rng.integers(0, len(data))]
        else:
            for _ in range(rng.integers(1, 4)):
                data[rng.integers(0, len(data))] ^= 1 << int(rng.integers(0, 8))
        path.write_bytes(bytes(data))
        try:
            loaded = load_checkpoint(path).network
        except ValueError as exc:
            assert "pickle" not in str(exc).lower()
            outcomes.add("refused")
        else:
            for key in net.params:
                np.testing.assert_array_equal(loaded.params[key], net.params[key])
            outcomes.add("same")
    assert "refused" in outcomes


# --- the book's convolutional networks -------------------------------------------------

_SMALL_CONV = {"filter_num": 4, "filter_size": 3, "pad": 1, "stride": 1}


def _convnet(kind, backend="fast", seed=0):
    """A small trained-looking convnet and a batch for it: (network, x, t)."""
    rng = np.random.default_rng(seed)
    np.random.seed(seed)
    if kind == "simple":
        net = SimpleConvNet((1, 10, 10), _SMALL_CONV, hidden_size=7, output_size=3,
                            weight_init_std=0.1, backend=backend, dtype=np.float32)
        x = rng.standard_normal((6, 1, 10, 10)).astype(np.float32)
    else:   # DeepConvNet's W7 takes 64*4*4 inputs: a 28x28 input, the book's filters
        net = DeepConvNet(hidden_size=6, output_size=3, backend=backend)
        x = rng.standard_normal((3, 1, 28, 28))
    return net, x, rng.integers(0, 3, len(x))


@pytest.mark.parametrize("kind", ["simple", "deep"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_convnet_checkpoint_predicts_and_continues_the_same(tmp_path, kind, backend):
    net, x, t = _convnet(kind, backend)
    opt = make_optimizer("adam", {"lr": 0.01}, backend=backend)
    opt.update(net.params, net.gradient(x, t))
    save_network(tmp_path / "c.npz", net, opt)
    loaded, lopt, _ = load_checkpoint(tmp_path / "c.npz")
    assert type(loaded) is type(net) and loaded.dtype == net.dtype
    assert loaded.backend.name == backend
    np.testing.assert_array_equal(loaded.predict(x), net.predict(x))
    for n, o in ((net, opt), (loaded, lopt)):           # one more step each: same weights
        np.random.seed(1)                               # (DeepConvNet's dropout masks)
        o.update(n.params, n.gradient(x, t))
    for key in net.params:
        np.testing.assert_array_equal(loaded.params[key], net.params[key])
    saved = load_network(tmp_path / "c.npz")
    other = load_network(tmp_path / "c.npz", backend="reference" if backend == "fast" else "fast")
    np.testing.assert_allclose(other.predict(x), saved.predict(x), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kind, change, words", [
    ("simple", lambda k: k["conv_param"].update(filter_num=10 ** 6),
     "param/W1: shape (4, 1, 3, 3) in the file, (1000000, 1, 3, 3) in the network"),
    ("deep", lambda k: k.update(hidden_size=10 ** 7),
     "param/W7: shape (1024, 6) in the file, (1024, 10000000) in the network"),
    ("simple", lambda k: k.update(conv_param={"filter_num": 4}), "settings are invalid: missing"),
    ("simple", lambda k: k["conv_param"].update(stride=0), "settings are invalid"),
    ("simple", lambda k: k.update(conv_param={"filter_num": {"__class__": "os.system"}}),
     "is not a plain JSON value"),
    ("deep", lambda k: k.update(command="rm -rf /"), "takes no argument 'command'"),
])
def test_hostile_convnet_checkpoint_is_refused_before_building(tmp_path, monkeypatch, kind,
                                                               change, words):
    net, _, _ = _convnet(kind)
    path = tmp_path / "c.npz"
    save_network(path, net)
    _rewrite(path, lambda m: change(m["network"]["kwargs"]))
    cls = type(net)

    @functools.wraps(cls.__init__)       # same signature
    def refuse(*args, **kwargs):
        raise AssertionError("the network must not be built")
    if "invalid" not in words:           # those get as far as the constructor
        monkeypatch.setattr(cls, "__init__", refuse)
    with pytest.raises(ValueError) as info:
        load_checkpoint(path)
    assert words in str(info.value)


@pytest.mark.parametrize("backend", BACKENDS)
def test_inverted_dropout_is_saved_and_restored(tmp_path, backend):
    (x, _), _ = _data()
    net = _net(2, backend=backend, use_dropout=True, dropout_ration=0.3, dropout_inverted=True)
    save_network(tmp_path / "d.npz", net)
    loaded = load_network(tmp_path / "d.npz")
    assert loaded.dropout_inverted is True
    outputs = []
    for n in (net, loaded):                     # training mode: the same masks, the same scale
        np.random.seed(7)
        outputs.append(n.predict(x, train_flg=True))
    np.testing.assert_array_equal(outputs[0], outputs[1])
    assert load_network(_trained(tmp_path)[0]).dropout_inverted is False


# --- what a checkpoint's contents may be ----------------------------------------------

@pytest.mark.parametrize("dtype", [np.int64, np.bool_])
def test_optimizer_state_that_is_not_floating_point_is_refused_at_load(tmp_path, dtype):
    path, _, _ = _trained(tmp_path)
    _rewrite(path, arrays_fn=lambda a: a.update({"optim/m/W1": a["optim/m/W1"].astype(dtype)}))
    with pytest.raises(ValueError, match="optim/m/W1: %s, not floating point"
                       % np.dtype(dtype).name):
        load_checkpoint(path)


@pytest.mark.parametrize("dtype", [np.float16, np.float32])
def test_optimizer_state_of_another_precision_takes_its_parameters_dtype(tmp_path, dtype):
    path, _, opt = _trained(tmp_path)
    _rewrite(path, arrays_fn=lambda a: a.update({"optim/v/W2": a["optim/v/W2"].astype(dtype)}))
    ckpt = load_checkpoint(path)
    v = ckpt.optimizer.v["W2"]
    assert v.dtype == ckpt.network.params["W2"].dtype == np.float64
    np.testing.assert_array_equal(v, opt.v["W2"].astype(dtype))
    (x, t), _ = _data()
    before = ckpt.network.params["W2"].copy()
    ckpt.optimizer.update(ckpt.network.params, ckpt.network.gradient(x[:30], t[:30]))
    assert not np.array_equal(ckpt.network.params["W2"], before)


@pytest.mark.parametrize("optimizer,change,words", [
    ("adam", {"beta1": 1.0}, "beta1=1.0 is out of range"),
    ("adam", {"beta2": 1.5}, "beta2=1.5 is out of range"),
    ("adam", {"beta1": -0.1}, "beta1=-0.1 is out of range"),
    ("sgd", {"lr": -0.1}, "lr=-0.1 is out of range"),
    ("momentum", {"momentum": 1.0}, "momentum=1.0 is out of range"),
    ("nesterov", {"momentum": 2.0}, "momentum=2.0 is out of range"),
    ("rmsprop", {"decay_rate": -0.5}, "decay_rate=-0.5 is out of range"),
])
def test_impossible_optimizer_hyperparameters_are_refused_at_load(tmp_path, optimizer, change,
                                                                  words):
    path, _, _ = _trained(tmp_path, optimizer=optimizer)
    _rewrite(path, lambda m: m["optimizer"]["hyperparams"].update(change))
    with pytest.raises(ValueError, match=words) as info:
        load_checkpoint(path)
    assert str(path) in str(info.value)


def _with_npy_header(path, name, shape):
    """Rewrite member ``name`` of the archive with a header announcing ``shape``
    (the data bytes left as they were)."""
    import io
    with zipfile.ZipFile(path) as archive:
        members = {info.filename: archive.read(info) for info in archive.infolist()}
    old = io.BytesIO(members[name])
    assert np.lib.format.read_magic(old) == (1, 0)
    _, fortran, dtype = np.lib.format.read_array_header_1_0(old)
    new = io.BytesIO()
    np.lib.format.write_array_header_1_0(new, {"descr": np.lib.format.dtype_to_descr(dtype),
                                               "fortran_order": fortran, "shape": shape})
    members[name] = new.getvalue() + old.read()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        for member, data in members.items():
            archive.writestr(member, data)


@pytest.mark.parametrize("shape", [(10 ** 12, 10 ** 6), (2 ** 62, 2 ** 62), (16, -20), (16, 21)])
def test_npy_header_claiming_another_shape_is_not_a_complete_checkpoint(tmp_path, shape):
    path, _, _ = _trained(tmp_path)
    _with_npy_header(path, "param/W1.npy", shape)
    with pytest.raises(ValueError) as info:
        load_checkpoint(path)
    msg = str(info.value)
    assert "not a complete fastnn checkpoint" in msg and str(path) in msg
    assert "param/W1.npy" in msg
