"""fastnn.nlp.datasets.ptb: the book's format from small corpora made here,
offline from a folder, downloads from a local HTTP server (caps, checksums,
atomic writes), and caches that are read without running code."""
import functools
import hashlib
import http.server
import os
import pickle
import threading

import numpy as np
import pytest

from fastnn.datasets import download as dl
from fastnn.datasets import locate
from fastnn.nlp.datasets import ptb

TRAIN = " the cat sat on the mat \n a <unk> sat \n"
VALID = " the mat \n"
TEST = " a cat on the <unk> \n"


@pytest.fixture
def iso(tmp_path, monkeypatch):
    """No real home, no $FASTNN_DATA, a mirror where nothing listens."""
    monkeypatch.setattr(locate, "HOME_DIR", str(tmp_path / "home"))
    monkeypatch.delenv("FASTNN_DATA", raising=False)
    monkeypatch.setattr(ptb, "url_base", "http://127.0.0.1:9/")
    monkeypatch.setattr(dl, "TIMEOUT", 5)
    for var in ("no_proxy", "NO_PROXY"):
        monkeypatch.setenv(var, "*")
    return tmp_path


def _write(folder, train=TRAIN, valid=VALID, test=TEST):
    os.makedirs(folder, exist_ok=True)
    for name, text in (("ptb.train.txt", train), ("ptb.valid.txt", valid),
                       ("ptb.test.txt", test)):
        if text is not None:
            with open(os.path.join(folder, name), "w", encoding="utf-8") as fh:
                fh.write(text)


def test_books_format_from_a_local_folder(iso):
    folder = str(iso / "data")
    _write(folder)
    corpus, w2i, i2w = ptb.load_data("train", data_dir=folder)
    words = TRAIN.replace("\n", "<eos>").strip().split()
    assert [i2w[i] for i in corpus] == words
    assert corpus.dtype == np.int64
    assert w2i["<eos>"] == 5 and w2i["<unk>"] == 7 and i2w[0] == "the"
    for split, text in (("val", VALID), ("valid", VALID), ("test", TEST)):
        c, w, _ = ptb.load_data(split, data_dir=folder)
        assert w is not None and [i2w[i] for i in c] == text.replace("\n", "<eos>").split()
    assert sorted(os.listdir(folder)) == sorted(
        ["ptb.train.txt", "ptb.valid.txt", "ptb.test.txt", "ptb.vocab.pkl", "ptb.train.npy",
         "ptb.valid.npy", "ptb.test.npy"])
    again = ptb.load_data("train", data_dir=folder)          # from the caches
    np.testing.assert_array_equal(again[0], corpus)
    assert again[1] == w2i and again[2] == i2w


def test_env_folder(iso, monkeypatch):
    _write(str(iso / "root" / "ptb"))
    monkeypatch.setenv("FASTNN_DATA", str(iso / "root"))
    corpus, w2i, _ = ptb.load_data("train")
    assert len(corpus) == 11 and len(w2i) == 8


def test_unknown_word_and_split(iso):
    folder = str(iso / "data")
    _write(folder, test=" zebra \n")
    with pytest.raises(ValueError, match="'zebra'"):
        ptb.load_data("test", data_dir=folder)
    with pytest.raises(ValueError, match="data_type"):
        ptb.load_data("dev", data_dir=folder)


def test_missing_offline_is_a_clear_error(iso):
    with pytest.raises(ptb.DatasetNotFoundError, match="ptb.train.txt"):
        ptb.load_data("train", data_dir=str(iso / "empty"))


def test_stale_or_hostile_caches_are_rebuilt_not_run(iso):
    folder = iso / "data"
    _write(str(folder))
    corpus, w2i, _ = ptb.load_data("train", data_dir=str(folder))
    marker = iso / "ran"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))
    with open(folder / "ptb.vocab.pkl", "wb") as fh:
        pickle.dump(Evil(), fh)
    np.save(folder / "ptb.train.npy", np.array([0, 99]))          # an id past the vocabulary
    c2, w2, _ = ptb.load_data("train", data_dir=str(folder))
    assert not marker.exists()
    np.testing.assert_array_equal(c2, corpus)
    assert w2 == w2i
    # a vocabulary whose dicts disagree is not used either
    with open(folder / "ptb.vocab.pkl", "wb") as fh:
        pickle.dump(({"the": 0}, {0: "cat"}), fh)
    assert ptb.load_vocab(str(folder)) == (w2i, {v: k for k, v in w2i.items()})
    # an object array in the corpus cache: np.load refuses it, the cache is rebuilt
    np.save(folder / "ptb.train.npy", np.array([Evil()], dtype=object), allow_pickle=True)
    np.testing.assert_array_equal(ptb.load_data("train", data_dir=str(folder))[0], corpus)
    assert not marker.exists()


def test_cache_older_than_its_text_is_ignored(iso):
    folder = iso / "data"
    _write(str(folder))
    ptb.load_data("train", data_dir=str(folder))
    _write(str(folder), train=" new words here \n")
    later = os.path.getmtime(folder / "ptb.vocab.pkl") + 10
    os.utime(folder / "ptb.train.txt", (later, later))
    corpus, w2i, _ = ptb.load_data("train", data_dir=str(folder))
    assert list(w2i) == ["new", "words", "here", "<eos>"]


@pytest.fixture
def server(tmp_path):
    root = tmp_path / "www"
    root.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            if self.path.startswith("/flood/"):      # no length, far too much
                self.send_response(200)
                self.end_headers()
                self.close_connection = True
                try:
                    for _ in range(400):
                        self.wfile.write(bytes(1 << 16))
                except OSError:
                    pass
                return
            super().do_GET()

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                            functools.partial(Quiet, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield "http://127.0.0.1:%d/" % httpd.server_address[1], root
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_download_from_the_mirror(iso, server, monkeypatch, capfd):
    url, root = server
    _write(str(root))
    monkeypatch.setattr(ptb, "url_base", url)
    monkeypatch.setattr(ptb, "MD5", {"ptb.valid.txt":
                                     hashlib.md5(VALID.encode()).hexdigest()})
    corpus, w2i, _ = ptb.load_data("val")
    assert len(corpus) == 3
    target = iso / "home" / "ptb"
    assert sorted(f for f in os.listdir(target) if f.endswith(".txt")) == [
        "ptb.train.txt", "ptb.valid.txt"]
    assert "Downloading ptb.valid.txt" in capfd.readouterr().err


def test_download_checksum_mismatch_leaves_nothing(iso, server, monkeypatch):
    url, root = server
    _write(str(root))
    monkeypatch.setattr(ptb, "url_base", url)
    monkeypatch.setattr(ptb, "MD5", {"ptb.train.txt": "0" * 32})
    with pytest.raises(ptb.DatasetNotFoundError, match="checksum mismatch"):
        ptb.load_data("train")
    target = iso / "home" / "ptb"
    assert not [f for f in os.listdir(target) if not f.startswith(".fastnn-check")]


def test_download_size_cap(iso, server, monkeypatch):
    url, _ = server
    monkeypatch.setattr(ptb, "url_base", url + "flood/")
    monkeypatch.setattr(ptb, "SIZES", {"ptb.train.txt": 1000})
    with pytest.raises(ptb.DatasetNotFoundError, match="more than"):
        ptb.load_data("train")
    assert not os.listdir(iso / "home" / "ptb")
