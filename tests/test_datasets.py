"""Tests of fastnn.datasets: IDX parsing, lookup, cache, download, sample."""

import functools
import gzip
import hashlib
import http.server
import os
import socket
import struct
import subprocess
import sys
import threading
import time
import zipfile

import numpy as np
import pytest

import fastnn.datasets as ds
from fastnn.datasets import cache as dscache
from fastnn.datasets import download as dsdl
from fastnn.datasets import mnist as dsm

DEBIAN_DIR = "/usr/share/datasets/fashion-mnist"
FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
         "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
FLAGS = [(n, f, o) for n in (True, False) for f in (True, False) for o in (True, False)]


# --------------------------------------------------------------------------
# helpers


def idx_bytes(array):
    """IDX encoding of a uint8 array, written independently of fastnn."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    head = struct.pack(">HBB", 0, 8, array.ndim)
    head += struct.pack(">%dI" % array.ndim, *array.shape)
    return head + array.tobytes()


def make_set(directory, n_train=30, n_test=20, gz=True, seed=0):
    """Write a small synthetic data set; return its arrays by file name."""
    rng = np.random.default_rng(seed)
    os.makedirs(directory, exist_ok=True)
    arrays = {}
    for split, n in (("train", n_train), ("t10k", n_test)):
        arrays[split + "-images-idx3-ubyte"] = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        arrays[split + "-labels-idx1-ubyte"] = rng.permutation(np.arange(n) % 10).astype(np.uint8)
    for base, array in arrays.items():
        data = idx_bytes(array)
        if gz:
            data = gzip.compress(data)
        with open(os.path.join(str(directory), base + (".gz" if gz else "")), "wb") as fh:
            fh.write(data)
    return arrays


def md5_table(directory):
    def md5(name):
        with open(os.path.join(str(directory), name), "rb") as f:
            return hashlib.md5(f.read()).hexdigest()
    return {f + ".gz": md5(f + ".gz") for f in FILES}


def closed_port_url():
    """A URL on 127.0.0.1 where nothing listens (connection refused)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return "http://127.0.0.1:%d/" % port


def check_book_layout(train, test, n_train, n_test, normalize, flatten, one_hot):
    for (x, t), n in ((train, n_train), (test, n_test)):
        assert x.shape == ((n, 784) if flatten else (n, 1, 28, 28))
        if normalize:
            assert x.dtype == np.float32
            assert 0.0 <= x.min() and x.max() <= 1.0
        else:
            assert x.dtype == np.uint8
        if one_hot:
            assert t.dtype == np.float64 and t.shape == (n, 10)
            assert set(np.unique(t)) <= {0.0, 1.0}
            assert np.all(t.sum(axis=1) == 1.0)
        else:
            assert t.dtype == np.uint8 and t.shape == (n,)
            assert t.max() <= 9


def leftovers(directory):
    """Cache or temporary files in ``directory``."""
    if not os.path.isdir(directory):
        return []
    return [f for f in os.listdir(directory) if f.endswith((".npz", ".part")) or f.startswith(".")]


@pytest.fixture
def iso(tmp_path, monkeypatch):
    """No real home dir, no system dir, no $FASTNN_DATA, no network, empty memo."""
    monkeypatch.setattr(dsm, "HOME_DIR", str(tmp_path / "home"))
    monkeypatch.setattr(dsm, "SYSTEM_DIRS", {"mnist": [], "fashion-mnist": []})
    monkeypatch.setattr(dsm, "MIRRORS", {"mnist": [closed_port_url()],
                                         "fashion-mnist": [closed_port_url()]})
    monkeypatch.setattr(dsm, "TIMEOUT", 5)
    monkeypatch.setattr(dscache, "_memo", {})
    monkeypatch.delenv("FASTNN_DATA", raising=False)
    for var in ("no_proxy", "NO_PROXY"):
        monkeypatch.setenv(var, "*")
    return tmp_path


SENT = {}  # bytes the misbehaving handlers of ``server`` managed to send


@pytest.fixture
def server(tmp_path):
    """An HTTP server on 127.0.0.1 serving tmp_path/www; yields its base URL."""
    root = tmp_path / "www"
    root.mkdir()
    sent = SENT
    sent.clear()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            if self.path.startswith("/short/"):  # promises more than it sends
                self.send_response(200)
                self.send_header("Content-Length", "100000")
                self.end_headers()
                self.wfile.write(b"\x1f\x8b" + b"x" * 1000)
                self.wfile.flush()
                self.close_connection = True
                return
            if self.path.startswith(("/flood/", "/bigclaim/", "/trickle/")):
                self._misbehave(self.path.split("/")[1])
                return
            if self.path.startswith("/slowhead/"):   # headers one byte every 0.1 s
                self.close_connection = True
                try:
                    self.wfile.write(b"HTTP/1.0 200 OK\r\n")
                    for byte in b"X-Slow: " + b"a" * 100 + b"\r\n\r\n":
                        self.wfile.write(bytes([byte]))
                        self.wfile.flush()
                        sent["slowhead"] = sent.get("slowhead", 0) + 1
                        time.sleep(0.1)
                except OSError:
                    pass
                return
            super().do_GET()

        def _misbehave(self, how):
            """flood: 200 MB with no length; bigclaim: announces 1 GB;
            trickle: 100 bytes, one every 0.1 s."""
            self.send_response(200)
            if how != "flood":
                self.send_header("Content-Length", "1000000000" if how == "bigclaim" else "100")
            self.end_headers()
            self.close_connection = True
            chunk, pause, count = ((bytes(1 << 16), 0, 3200) if how != "trickle"
                                   else (b"\x1f", 0.1, 100))
            try:
                for _ in range(count):
                    self.wfile.write(chunk)
                    self.wfile.flush()
                    sent[how] = sent.get(how, 0) + len(chunk)
                    time.sleep(pause)
            except OSError:             # the client hung up: what we want
                pass

    httpd = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Quiet, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield "http://127.0.0.1:%d/" % httpd.server_address[1], root
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


# --------------------------------------------------------------------------
# real Fashion-MNIST from the Debian package


@pytest.fixture(scope="module")
def real_fashion(tmp_path_factory):
    if not os.path.isfile(os.path.join(DEBIAN_DIR, "train-images-idx3-ubyte.gz")):
        pytest.skip("Fashion-MNIST not installed in %s "
                    "(apt-get install dataset-fashion-mnist)" % DEBIAN_DIR)
    home = tmp_path_factory.mktemp("real-home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(dsm, "HOME_DIR", str(home))
        mp.setattr(dsm, "SYSTEM_DIRS", {"mnist": [], "fashion-mnist": [DEBIAN_DIR]})
        mp.setattr(dsm, "MIRRORS", {"mnist": [], "fashion-mnist": []})
        mp.setattr(dscache, "_memo", {})
        mp.delenv("FASTNN_DATA", raising=False)
        raw = ds.load_fashion_mnist(normalize=False, download=False)
        yield home, raw


@pytest.mark.parametrize("normalize,flatten,one_hot", FLAGS)
def test_real_fashion_flags(real_fashion, normalize, flatten, one_hot):
    train, test = ds.load_fashion_mnist(normalize=normalize, flatten=flatten,
                                        one_hot_label=one_hot, download=False)
    check_book_layout(train, test, 60000, 10000, normalize, flatten, one_hot)


@pytest.mark.slow
def test_real_fashion_content(real_fashion):
    home, ((x, t), (xt, tt)) = real_fashion
    assert np.bincount(t, minlength=10).tolist() == [6000] * 10
    assert np.bincount(tt, minlength=10).tolist() == [1000] * 10
    assert x.min() == 0 and x.max() == 255
    (xn, tn), _ = ds.load_fashion_mnist(download=False)
    np.testing.assert_array_equal(xn, x.astype(np.float32) / np.float32(255.0))
    (_, t1), _ = ds.load_fashion_mnist(one_hot_label=True, download=False)
    np.testing.assert_array_equal(t1.argmax(axis=1), t)


def test_real_fashion_cache_outside_system_dir(real_fashion):
    home, ((x, t), _) = real_fashion
    cache = os.path.join(str(home), "fashion-mnist", "fashion-mnist-cache.npz")
    assert os.path.isfile(cache)
    assert not any(f.endswith(".npz") for f in os.listdir(DEBIAN_DIR))
    dscache._memo.clear()
    (x2, t2), _ = ds.load_fashion_mnist(normalize=False, download=False)
    np.testing.assert_array_equal(x2, x)
    np.testing.assert_array_equal(t2, t)


def test_debian_files_match_published_content(real_fashion):
    # Debian recompressed the .gz files (their MD5 differs from MD5 below),
    # but the uncompressed content is the published one (RAW_MD5).
    for f in FILES:
        data = gzip.decompress(open(os.path.join(DEBIAN_DIR, f + ".gz"), "rb").read())
        assert hashlib.md5(data).hexdigest() == dsm.RAW_MD5["fashion-mnist"][f]


# --------------------------------------------------------------------------
# bundled sample


def test_sample_offline(iso, monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("load_sample must not use the network")
    monkeypatch.setattr("socket.create_connection", no_network)
    (x, t), (xt, tt) = ds.load_sample(normalize=False)
    assert x.shape == (5000, 784) and xt.shape == (1000, 784)
    assert np.bincount(t, minlength=10).tolist() == [500] * 10
    assert np.bincount(tt, minlength=10).tolist() == [100] * 10
    assert x.max() == 255
    for normalize, flatten, one_hot in FLAGS:
        train, test = ds.load_sample(normalize, flatten, one_hot)
        check_book_layout(train, test, 5000, 1000, normalize, flatten, one_hot)
    assert not os.path.exists(iso / "home")


def test_sample_size_limit():
    total = sum(os.path.getsize(os.path.join(dsm.SAMPLE_DIR, f + ".gz")) for f in FILES)
    assert total <= 3_000_000


def test_sample_images_come_from_real_test_set(real_fashion):
    _, (_, (xt, tt)) = real_fashion
    _, (xs, ts) = ds.load_sample(normalize=False, flatten=False)
    rows = {xt[i].tobytes(): tt[i] for i in range(len(xt))}
    assert all(rows.get(xs[i, 0].tobytes()) == ts[i] for i in range(len(xs)))


def test_returned_arrays_are_private(iso):
    (x, t), _ = ds.load_sample(normalize=False)
    first = x[0].copy(), t[0]
    x[0] = 7
    t[0] = (t[0] + 1) % 10
    (x2, t2), _ = ds.load_sample(normalize=False)
    np.testing.assert_array_equal(x2[0], first[0])
    assert t2[0] == first[1]
    assert x2.flags.writeable and t2.flags.writeable


# --------------------------------------------------------------------------
# local files, lookup order, flags


@pytest.mark.parametrize("gz", [True, False])
def test_local_dir(iso, gz):
    arrays = make_set(iso / "d", gz=gz)
    for normalize, flatten, one_hot in FLAGS:
        train, test = ds.load_mnist(normalize, flatten, one_hot, data_dir=iso / "d")
        check_book_layout(train, test, 30, 20, normalize, flatten, one_hot)
    (x, t), (xt, tt) = ds.load_mnist(normalize=False, flatten=False, data_dir=str(iso / "d"))
    np.testing.assert_array_equal(x[:, 0], arrays["train-images-idx3-ubyte"])
    np.testing.assert_array_equal(tt, arrays["t10k-labels-idx1-ubyte"])
    (xn, _), (_, th) = ds.load_mnist(one_hot_label=True, data_dir=iso / "d")
    np.testing.assert_array_equal(xn, x.reshape(30, 784).astype(np.float32) / np.float32(255))
    np.testing.assert_array_equal(th.argmax(1), tt)
    assert os.path.isfile(iso / "d" / "mnist-cache.npz")


def test_lookup_order(iso, monkeypatch):
    sysdir, env, explicit = iso / "sys", iso / "env", iso / "explicit"
    a_sys = make_set(sysdir, seed=1)
    monkeypatch.setattr(dsm, "SYSTEM_DIRS", {"mnist": [], "fashion-mnist": [str(sysdir)]})
    try:
        os.chmod(sysdir, 0o555)  # system dirs are never written to, even by root
        (x, _), _ = ds.load_fashion_mnist(normalize=False, flatten=False, download=False)
        np.testing.assert_array_equal(x[:, 0], a_sys["train-images-idx3-ubyte"])
        assert leftovers(str(sysdir)) == []
        assert os.path.isfile(iso / "home" / "fashion-mnist" / "fashion-mnist-cache.npz")

        a_home = make_set(iso / "home" / "fashion-mnist", seed=2)
        (x, _), _ = ds.load_fashion_mnist(normalize=False, flatten=False, download=False)
        np.testing.assert_array_equal(x[:, 0], a_home["train-images-idx3-ubyte"])

        a_env = make_set(env / "fashion-mnist", seed=3)
        monkeypatch.setenv("FASTNN_DATA", str(env))
        (x, _), _ = ds.load_fashion_mnist(normalize=False, flatten=False, download=False)
        np.testing.assert_array_equal(x[:, 0], a_env["train-images-idx3-ubyte"])

        a_dir = make_set(explicit, seed=4)
        (x, _), _ = ds.load_fashion_mnist(normalize=False, flatten=False, data_dir=explicit)
        np.testing.assert_array_equal(x[:, 0], a_dir["train-images-idx3-ubyte"])
    finally:
        os.chmod(sysdir, 0o755)


def test_cache_follows_source_changes(iso):
    d = iso / "d"
    make_set(d, seed=1)
    ds.load_mnist(normalize=False, data_dir=d)
    assert os.path.isfile(d / "mnist-cache.npz")
    new = make_set(d, n_train=40, seed=2)
    dscache._memo.clear()
    (x, t), _ = ds.load_mnist(normalize=False, flatten=False, data_dir=d)
    np.testing.assert_array_equal(x[:, 0], new["train-images-idx3-ubyte"])
    assert len(t) == 40


def test_cache_is_used_and_corrupt_cache_rebuilt(iso, monkeypatch):
    d = iso / "d"
    arrays = make_set(d)
    ds.load_mnist(normalize=False, data_dir=d)
    cache = d / "mnist-cache.npz"
    dscache._memo.clear()
    calls = []
    real_parse = dsm._parse_files
    monkeypatch.setattr(dsm, "_parse_files", lambda files: calls.append(1) or real_parse(files))
    ds.load_mnist(normalize=False, data_dir=d)
    assert calls == []  # served from the npz cache
    dscache._memo.clear()
    cache.write_bytes(b"PK\x03\x04 this is not a zip file")
    (x, _), _ = ds.load_mnist(normalize=False, flatten=False, data_dir=d)
    assert calls == [1]
    np.testing.assert_array_equal(x[:, 0], arrays["train-images-idx3-ubyte"])
    with np.load(cache) as npz:
        np.testing.assert_array_equal(npz["t_test"], arrays["t10k-labels-idx1-ubyte"])
    assert leftovers(str(d)) == ["mnist-cache.npz"]


def test_compressed_cache_is_rebuilt(iso, monkeypatch):
    # a deflated member could inflate without bound: only np.savez's stored ones are read
    d = iso / "d"
    make_set(d)
    ds.load_mnist(normalize=False, data_dir=d)
    cache = d / "mnist-cache.npz"
    with np.load(cache) as npz:
        arrays = {k: npz[k] for k in npz.files}
    np.savez_compressed(cache, **arrays)
    dscache._memo.clear()
    calls = []
    real_parse = dsm._parse_files
    monkeypatch.setattr(dsm, "_parse_files", lambda files: calls.append(1) or real_parse(files))
    ds.load_mnist(normalize=False, data_dir=d)
    assert calls == [1]
    with zipfile.ZipFile(cache) as archive:
        assert {i.compress_type for i in archive.infolist()} == {zipfile.ZIP_STORED}


def test_load_dataset(iso):
    make_set(iso / "d")
    (x, t), _ = ds.load_dataset("sample", normalize=False)
    (x2, t2), _ = ds.load_sample(normalize=False)
    np.testing.assert_array_equal(x, x2)
    for name in ("fashion-mnist", "fashion_mnist", "mnist"):
        (x, _), (xt, _) = ds.load_dataset(name, data_dir=iso / "d", flatten=False)
        assert x.shape == (30, 1, 28, 28) and xt.shape == (20, 1, 28, 28)
    for bad in ("cifar10", "", None, 3):
        with pytest.raises(ValueError) as info:
            ds.load_dataset(bad)
        msg = str(info.value)
        assert "name" in msg and "'mnist'" in msg and "'fashion-mnist'" in msg and "'sample'" in msg


def test_book_alias():
    import fastnn.dataset
    from fastnn.dataset.mnist import load_mnist
    assert load_mnist is ds.load_mnist
    assert fastnn.dataset.load_sample is ds.load_sample


def test_idx_roundtrip(tmp_path):
    a = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    ds.write_idx(str(tmp_path / "a.gz"), a)
    ds.write_idx(str(tmp_path / "a"), a)
    assert (tmp_path / "a").read_bytes() == idx_bytes(a)
    assert gzip.decompress((tmp_path / "a.gz").read_bytes()) == idx_bytes(a)
    np.testing.assert_array_equal(ds.read_idx(str(tmp_path / "a.gz"), 0x803), a)


# --------------------------------------------------------------------------
# damaged files


def _truncate(path):
    data = gzip.decompress(path.read_bytes())
    path.write_bytes(gzip.compress(data[:-100]))


def _bad_magic(path):
    data = gzip.decompress(path.read_bytes())
    path.write_bytes(gzip.compress(b"\x00\x00\x08\x01" + data[4:]))


def _gzip_garbage(path):
    path.write_bytes(b"\x1f\x8b\x08\x00" + bytes(range(256)) * 4)


def _gzip_cut(path):
    path.write_bytes(path.read_bytes()[:-200])


@pytest.mark.parametrize("damage,words", [
    (_truncate, ["truncated", "need", "found"]),
    (_bad_magic, ["magic", "0x00000803", "0x00000801"]),
    (_gzip_garbage, ["gzip"]),
    (_gzip_cut, ["gzip"]),
])
def test_damaged_file(iso, monkeypatch, damage, words):
    d = iso / "sys"  # read-only place: the cache goes to $FASTNN_DATA/mnist
    make_set(d)
    monkeypatch.setattr(dsm, "SYSTEM_DIRS", {"mnist": [str(d)], "fashion-mnist": []})
    cache_root = iso / "cache"
    monkeypatch.setenv("FASTNN_DATA", str(cache_root))
    victim = d / "train-images-idx3-ubyte.gz"
    damage(victim)
    with pytest.raises(ValueError) as info:
        ds.load_mnist(download=False)
    msg = str(info.value)
    assert str(victim) in msg
    for word in words:
        assert word in msg
    assert os.listdir(cache_root / "mnist") == []
    assert leftovers(str(d)) == []


def test_failed_cache_write_leaves_nothing(iso, monkeypatch):
    d = iso / "d"
    make_set(d)

    def disk_full(fh, **arrays):
        fh.write(b"PK\x03\x04 half an archive")
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(np, "savez", disk_full)
    (x, _), _ = ds.load_mnist(data_dir=d)  # the cache is optional
    assert x.shape == (30, 784)
    assert leftovers(str(d)) == []


def test_count_mismatch(iso):
    d = iso / "d"
    make_set(d)
    (d / "t10k-labels-idx1-ubyte.gz").write_bytes(
        gzip.compress(idx_bytes(np.zeros(19, np.uint8))))
    with pytest.raises(ValueError, match="20 images.*19 labels"):
        ds.load_mnist(data_dir=d)
    assert leftovers(str(d)) == []


def test_wrong_image_size(iso):
    d = iso / "d"
    make_set(d)
    (d / "t10k-images-idx3-ubyte.gz").write_bytes(
        gzip.compress(idx_bytes(np.zeros((20, 14, 14), np.uint8))))
    with pytest.raises(ValueError, match="28x28"):
        ds.load_mnist(data_dir=d)


# --------------------------------------------------------------------------
# downloading


def test_download_second_mirror(iso, server, monkeypatch, capfd):
    base, root = server
    arrays = make_set(root / "good")
    monkeypatch.setitem(dsm.MD5, "mnist", md5_table(root / "good"))
    target = iso / "dl"
    train, test = ds.load_mnist(normalize=False, flatten=False, data_dir=target,
                                mirrors=[base + "missing/", base + "good/"])
    np.testing.assert_array_equal(train[0][:, 0], arrays["train-images-idx3-ubyte"])
    np.testing.assert_array_equal(test[1], arrays["t10k-labels-idx1-ubyte"])
    for f in FILES:
        assert (target / (f + ".gz")).read_bytes() == (root / "good" / (f + ".gz")).read_bytes()
    assert "100%" in capfd.readouterr().err
    assert sorted(os.listdir(target)) == sorted([f + ".gz" for f in FILES] + ["mnist-cache.npz"])


def test_download_to_env_dir_quietly(iso, server, monkeypatch, capfd):
    base, root = server
    make_set(root / "good")
    monkeypatch.setitem(dsm.MD5, "fashion-mnist", md5_table(root / "good"))
    monkeypatch.setitem(dsm.MIRRORS, "fashion-mnist", [base + "good"])
    monkeypatch.setenv("FASTNN_DATA", str(iso / "env"))
    (x, _), _ = ds.load_fashion_mnist(quiet=True)
    assert x.shape == (30, 784)
    assert capfd.readouterr().err == ""
    assert len(os.listdir(iso / "env" / "fashion-mnist")) == 5
    assert not os.path.exists(iso / "home" / "fashion-mnist")


def test_download_accepts_recompressed_content(iso, server, monkeypatch):
    base, root = server
    make_set(root / "good")
    raw = {f: hashlib.md5(gzip.decompress((root / "good" / (f + ".gz")).read_bytes())).hexdigest()
           for f in FILES}
    monkeypatch.setitem(dsm.MD5, "mnist", {f + ".gz": "0" * 32 for f in FILES})
    monkeypatch.setitem(dsm.RAW_MD5, "mnist", raw)
    (x, _), _ = ds.load_mnist(data_dir=iso / "dl", mirrors=[base + "good/"], quiet=True)
    assert x.shape == (30, 784)


def test_download_wrong_checksum(iso, server, monkeypatch):
    base, root = server
    make_set(root / "good")
    table = md5_table(root / "good")
    make_set(root / "evil", seed=9)  # same names, other content
    monkeypatch.setitem(dsm.MD5, "mnist", table)
    monkeypatch.setitem(dsm.RAW_MD5, "mnist", {})
    target = iso / "dl"
    with pytest.raises(ds.DatasetNotFoundError) as info:
        ds.load_mnist(data_dir=target, mirrors=[base + "evil/"], quiet=True)
    assert "checksum mismatch" in str(info.value)
    assert table["train-images-idx3-ubyte.gz"] in str(info.value)
    assert os.listdir(target) == []


def test_download_cut_short(iso, server, monkeypatch):
    base, root = server
    target = iso / "dl"
    with pytest.raises(ds.DatasetNotFoundError) as info:
        ds.load_mnist(data_dir=target, mirrors=[base + "short/"], quiet=True)
    assert base + "short/train-images-idx3-ubyte.gz" in str(info.value)
    assert os.listdir(target) == []


@pytest.mark.parametrize("name,loader", [("mnist", ds.load_mnist),
                                         ("fashion-mnist", ds.load_fashion_mnist)])
def test_all_mirrors_down(iso, server, name, loader):
    base, root = server
    target = iso / "dl"
    with pytest.raises(ds.DatasetNotFoundError) as info:
        loader(data_dir=target, mirrors=[base + "missing/", closed_port_url()], quiet=True)
    err = info.value
    assert isinstance(err, OSError)
    msg = str(err)
    for f in FILES:
        assert f + ".gz" in msg
    assert str(target) in msg
    assert os.path.join(str(iso / "home"), name) in msg
    assert "FASTNN_DATA" in msg
    assert "404" in msg
    assert ("apt-get install dataset-fashion-mnist" in msg) == (name == "fashion-mnist")
    assert os.listdir(target) == []


def test_no_download_when_disabled(iso, monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("download=False must not use the network")
    monkeypatch.setattr("socket.create_connection", no_network)
    with pytest.raises(ds.DatasetNotFoundError, match="download=False"):
        ds.load_mnist(download=False)


# --------------------------------------------------------------------------
# the IDX reader streams, capped by the header


_BOMB_READER = r"""
import resource, sys
sys.path.insert(0, %(root)r)
import fastnn.datasets as ds
vm = int(open("/proc/self/status").read().split("VmSize:")[1].split()[0]) * 1024
cap = vm + (384 << 20)             # far less than the bomb inflates to
resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    %(call)s
    print("LOADED")
except BaseException as exc:
    print(type(exc).__name__, str(exc).replace("\n", " "))
print("GROWTH_KIB", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)
"""


def _gzip_bomb(path, header, mib=2048):
    """``header`` then ``mib`` MiB of zeros (a multiple of 64), as a file of a few
    hundred KB per GiB (gzip members)."""
    member = gzip.compress(bytes(64 << 20), compresslevel=9, mtime=0)
    with open(path, "wb") as fh:
        fh.write(gzip.compress(header, mtime=0))
        for _ in range(mib // 64):
            fh.write(member)


def _run_bomb(call):
    """Run ``call`` (Python code) in a child whose memory is capped; its output."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    env.pop("LD_PRELOAD", None)            # a sanitizer's shadow memory needs no RLIMIT_AS
    return subprocess.run([sys.executable, "-c", _BOMB_READER % {"root": root, "call": call}],
                          capture_output=True, text=True, env=env, timeout=300).stdout


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs Linux /proc")
@pytest.mark.parametrize("dims,words", [
    ((10, 28, 28), ["trailing data", "7840"]),            # honest header, endless data
    ((2_000_000, 28, 28), ["MAX_PAYLOAD_BYTES"]),         # header as big as the bomb
])
def test_read_idx_stops_a_gzip_bomb_at_its_header(tmp_path, dims, words):
    path = tmp_path / "train-images-idx3-ubyte.gz"
    _gzip_bomb(path, struct.pack(">HBB3I", 0, 8, 3, *dims))
    assert path.stat().st_size < 3 << 20
    out = _run_bomb("ds.read_idx(%r, 0x803)" % str(path))
    assert out.startswith("ValueError "), out
    assert str(path) in out
    for word in words:
        assert word in out
    growth_kib = int(out.split("GROWTH_KIB")[1])
    assert growth_kib < 64 << 10                           # under 64 MiB, not gigabytes


@pytest.mark.parametrize("content,words", [
    (b"\x00\x00\x0d\x03" + struct.pack(">3I", 1, 2, 2) + bytes(16), ["0x0D", "float32",
                                                                     "unsigned byte"]),
    (b"\x01\x00\x08\x03" + struct.pack(">3I", 1, 2, 2) + bytes(4), ["two zero bytes"]),
    (b"\x00\x00\x08\x03" + struct.pack(">2I", 1, 2), ["16-byte header", "12 bytes"]),
    (b"\x00\x00", ["expected an IDX header", "2 bytes"]),
    (b"\x00\x00\x08\x03" + struct.pack(">3I", 3, 28, 28) + bytes(100),
     ["truncated", "2352", "found 100"]),
], ids=["float32-type", "nonzero-magic", "short-dims", "short-magic", "truncated"])
@pytest.mark.parametrize("gz", [True, False])
def test_read_idx_refuses_bad_headers_and_truncation(tmp_path, content, words, gz):
    path = tmp_path / ("x.idx" + (".gz" if gz else ""))
    path.write_bytes(gzip.compress(content) if gz else content)
    with pytest.raises(ValueError) as info:
        ds.read_idx(str(path))
    msg = str(info.value)
    assert msg.startswith(str(path) + ":")
    for word in words:
        assert word in msg


def test_read_idx_result_is_read_only_and_exact(tmp_path):
    a = np.random.default_rng(0).integers(0, 256, (7, 28, 28), dtype=np.uint8)
    ds.write_idx(str(tmp_path / "a.gz"), a)
    got = ds.read_idx(str(tmp_path / "a.gz"), 0x803)
    np.testing.assert_array_equal(got, a)
    assert not got.flags.writeable
    from fastnn.datasets.idx import parse_idx
    np.testing.assert_array_equal(parse_idx(idx_bytes(a)), a)


# MNIST and Fashion-MNIST have 60000 training and 10000 test images of 28x28: no file
# of theirs may announce more, so the four inflate to 55 MB at most together.


def _oversized(base):
    """The header of ``base`` announcing one image (or label) more than the data set has."""
    count = {"train": 60000, "t10k": 10000}[base.split("-")[0]] + 1
    if "images" in base:
        return struct.pack(">HBB3I", 0, 8, 3, count, 28, 28)
    return struct.pack(">HBB1I", 0, 8, 1, count)


@pytest.mark.parametrize("base", FILES)
def test_load_mnist_refuses_files_larger_than_the_data_set(iso, base):
    d = iso / "d"
    make_set(d)
    victim = d / (base + ".gz")
    victim.write_bytes(gzip.compress(_oversized(base)))      # the header alone
    with pytest.raises(ValueError) as info:
        ds.load_mnist(data_dir=d)
    msg = str(info.value)
    assert msg.startswith(str(victim) + ":") and "exceed" in msg, msg
    assert ("(60000" if base.startswith("train") else "(10000") in msg
    assert leftovers(str(d)) == []                           # no cache written


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs Linux /proc")
def test_load_mnist_memory_stays_bounded_on_oversized_files(tmp_path):
    # Four files of a few hundred KB whose headers claim 256 MiB of images each.
    d = tmp_path / "d"
    d.mkdir()
    for base in FILES:
        count = (256 << 20) // 784 if "images" in base else 1 << 20
        dims = (count, 28, 28) if "images" in base else (count,)
        header = struct.pack(">HBB%dI" % len(dims), 0, 8, len(dims), *dims)
        _gzip_bomb(d / (base + ".gz"), header, mib=256 if "images" in base else 0)
    assert sum(f.stat().st_size for f in d.iterdir()) < 1 << 20
    out = _run_bomb("ds.load_mnist(data_dir=%r, download=False)" % str(d))
    assert out.startswith("ValueError ") and "exceed" in out, out
    assert str(d / "train-images-idx3-ubyte.gz") in out
    assert int(out.split("GROWTH_KIB")[1]) < 32 << 10        # under 32 MiB
    assert leftovers(str(d)) == []                           # and no 512 MB cache


def test_cache_with_labels_out_of_range_is_rebuilt(iso):
    d = iso / "d"
    arrays = make_set(d)
    ds.load_mnist(normalize=False, data_dir=d)
    cache = d / "mnist-cache.npz"
    with np.load(cache) as npz:
        tampered = {k: npz[k] for k in npz.files}
    tampered["t_train"] = tampered["t_train"].copy()
    tampered["t_train"][0] = 200                             # the key still matches
    np.savez(cache, **tampered)
    dscache._memo.clear()
    (_, t), _ = ds.load_mnist(normalize=False, data_dir=d)
    np.testing.assert_array_equal(t, arrays["train-labels-idx1-ubyte"])
    with np.load(cache) as npz:                              # and rewritten from the files
        assert npz["t_train"].max() <= 9


# --------------------------------------------------------------------------
# downloads are capped in size and time, and leave nothing


@pytest.mark.slow
@pytest.mark.parametrize("how,words,most", [
    ("flood", ["more than 12000 bytes"], 50 << 20),       # of the 200 MB on offer
    ("bigclaim", ["announces 1000000000 bytes"], 50 << 20),
    ("trickle", ["0.5s deadline"], 99),                   # of its 100 bytes
    ("slowhead", ["0.5s deadline"], 100),                 # of its 112 header bytes
])
def test_download_is_capped_in_size_and_time(iso, server, monkeypatch, how, words, most):
    base, root = server
    monkeypatch.setitem(dsm.SIZES, "mnist", {f + ".gz": 10_000 for f in FILES})
    monkeypatch.setattr(dsm, "SIZE_MARGIN", (0.1, 1000))
    monkeypatch.setattr(dsm, "DEADLINE", 0.5)
    target = iso / "dl"
    with pytest.raises(ds.DatasetNotFoundError) as info:
        ds.load_mnist(data_dir=target, mirrors=[base + how + "/"], quiet=True)
    msg = str(info.value)
    assert base + how + "/train-images-idx3-ubyte.gz" in msg
    for word in words:
        assert word in msg
    assert os.listdir(target) == []                        # no .part left behind
    assert SENT.get(how, 0) <= most


def test_download_size_limits_follow_the_tables():
    assert dsdl.size_limit("fashion-mnist", "train-images-idx3-ubyte.gz") == \
        int(26421880 * (1 + dsm.SIZE_MARGIN[0])) + dsm.SIZE_MARGIN[1]
    assert dsdl.size_limit("other", "x.gz") == dsm.MAX_DOWNLOAD_BYTES
    for name in ("mnist", "fashion-mnist"):
        assert set(dsm.SIZES[name]) == set(dsm.MD5[name])


# --------------------------------------------------------------------------
# the data sets split by job, the old module's settings still work


def test_datasets_modules_split_by_job_and_settings_forwarded(iso, monkeypatch):
    from fastnn.datasets import locate
    for module in (locate, dscache, dsdl, dsm, ds.idx):
        with open(module.__file__) as fh:
            assert len(fh.readlines()) < 500, module.__name__
    # settings set through fastnn.datasets.mnist reach the module that reads them
    monkeypatch.setattr(dsm, "TIMEOUT", 7)
    assert dsdl.TIMEOUT == 7 and dsm.TIMEOUT == 7
    assert dsm.HOME_DIR == locate.HOME_DIR == str(iso / "home")
    assert dsm.MIRRORS is dsdl.MIRRORS and dsm.FILES is locate.FILES
    dsm.DEADLINE = 3
    try:
        assert dsdl.DEADLINE == 3
    finally:
        dsm.DEADLINE = 600
    with pytest.raises(AttributeError):
        _ = dsm.NO_SUCH_SETTING
    from fastnn.dataset.mnist import load_fashion_mnist
    assert load_fashion_mnist is ds.load_fashion_mnist


# --------------------------------------------------------------------------
# fastnn.dataset.mnist has the book's constants and functions


def test_book_mnist_module_has_the_books_constants():
    import fastnn.dataset.mnist as book
    assert book.url_base == "https://ossci-datasets.s3.amazonaws.com/mnist/"
    assert sorted(book.key_file.values()) == sorted(f + ".gz" for f in FILES)
    assert book.key_file["train_img"] == "train-images-idx3-ubyte.gz"
    assert (book.train_num, book.test_num, book.img_dim, book.img_size) == \
        (60000, 10000, (1, 28, 28), 784)
    assert book.save_file == os.path.join(book.dataset_dir, "mnist-cache.npz")
    assert book.load_mnist is ds.load_mnist
    for name in ("url_base", "key_file", "dataset_dir", "save_file", "train_num",
                 "test_num", "img_dim", "img_size", "download_mnist", "init_mnist"):
        assert name in book.__all__


def test_book_mnist_dataset_dir_follows_fastnn_data(tmp_path):
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    code = ("import sys; sys.path.insert(0, %r); import fastnn.dataset.mnist as m; "
            "print(m.dataset_dir); print(m.save_file)" % root)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=dict(os.environ, FASTNN_DATA=str(tmp_path)), check=True)
    assert out.stdout.split() == [str(tmp_path / "mnist"),
                                  str(tmp_path / "mnist" / "mnist-cache.npz")]


def test_book_download_mnist_and_init_mnist(iso, server, monkeypatch, capfd):
    import fastnn.dataset.mnist as book
    base, root = server
    arrays = make_set(root / "good")
    monkeypatch.setitem(dsm.MD5, "mnist", md5_table(root / "good"))
    target = iso / "book"
    monkeypatch.setattr(book, "url_base", base + "good/")
    monkeypatch.setattr(book, "dataset_dir", str(target))
    book.download_mnist()
    assert sorted(os.listdir(target)) == sorted(f + ".gz" for f in FILES)
    assert "Downloading train-images-idx3-ubyte.gz" in capfd.readouterr().err
    (target / "t10k-labels-idx1-ubyte.gz").unlink()
    book.init_mnist(quiet=True)                     # fetches what is missing, then caches
    assert os.path.isfile(target / "mnist-cache.npz")
    (x, t), (xt, tt) = ds.load_mnist(normalize=False, flatten=False, data_dir=target,
                                     download=False)
    np.testing.assert_array_equal(x[:, 0], arrays["train-images-idx3-ubyte"])
    np.testing.assert_array_equal(tt, arrays["t10k-labels-idx1-ubyte"])
    # the book's url_base is checked like any mirror: a wrong file is refused
    make_set(root / "evil", seed=5)
    monkeypatch.setitem(dsm.RAW_MD5, "mnist", {})
    monkeypatch.setattr(book, "url_base", base + "evil/")
    monkeypatch.setattr(book, "dataset_dir", str(iso / "other"))
    with pytest.raises(ds.DatasetNotFoundError, match="checksum mismatch"):
        book.download_mnist(quiet=True)
    assert os.listdir(iso / "other") == []
