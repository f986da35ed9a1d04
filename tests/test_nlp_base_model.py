"""BaseModel.save_params/load_params: the book's pickle format both ways, an
atomic save, and a load that runs no code (fuzzed: damaged files, other
pickles, objects, huge sizes)."""
import os
import pickle
import pickletools

import numpy as np
import pytest

from fastnn.nlp import _safe_pickle
from fastnn.nlp.base_model import BaseModel

BOOK2 = os.environ.get("FASTNN_BOOK2_DIR")


class Model(BaseModel):
    def __init__(self, shapes=((4, 3), (3,), (3, 4)), seed=0):
        super().__init__()
        rng = np.random.default_rng(seed)
        self.params = [rng.standard_normal(s).astype("f") for s in shapes]
        self.grads = [np.zeros_like(p) for p in self.params]


def test_round_trip_is_the_books_format(tmp_path):
    m = Model()
    path = tmp_path / "m.pkl"
    m.save_params(str(path))
    with open(path, "rb") as fh:          # what the book's load_params reads
        raw = pickle.load(fh)
    assert isinstance(raw, list) and all(a.dtype == np.float16 for a in raw)
    assert pickletools.genops(path.read_bytes()).__next__()[1] == 3    # protocol 3
    other = Model(seed=1)
    held = list(other.params)
    other.load_params(str(path))
    for p, h, r in zip(other.params, held, raw):
        assert p is h and p.dtype == np.float32          # loaded in place, float32
        np.testing.assert_array_equal(p, r.astype("f"))


def test_default_file_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Model().save_params()
    assert (tmp_path / "Model.pkl").exists()
    Model(seed=3).load_params()
    with pytest.raises(IOError, match="No file: nothere.pkl"):
        Model().load_params("nothere.pkl")


def test_book_pickle_written_by_pickle_loads(tmp_path):
    """A file as the book writes it (pickle.dump of float16 arrays, protocol 3 and 5)."""
    m = Model()
    for protocol in (2, 3, 4, 5):
        path = tmp_path / ("b%d.pkl" % protocol)
        with open(path, "wb") as fh:
            pickle.dump([p.astype(np.float16) for p in m.params], fh, protocol=protocol)
        other = Model(seed=5)
        other.load_params(str(path))
        for p, q in zip(other.params, m.params):
            np.testing.assert_array_equal(p, q.astype(np.float16).astype("f"))


@pytest.mark.skipif(not BOOK2, reason="set FASTNN_BOOK2_DIR to the sequel's checkout")
def test_the_books_shipped_rnnlm_pkl():
    path = os.path.join(BOOK2, "ch06", "Rnnlm.pkl")
    with open(path, "rb") as fh:
        raw = pickle.load(fh)
    m = Model(shapes=[a.shape for a in raw])
    m.load_params(path)
    for p, r in zip(m.params, raw):
        np.testing.assert_array_equal(p, r.astype("f"))


def test_save_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "m.pkl"
    Model().save_params(str(path))
    before = path.read_bytes()

    def broken(*args, **kw):
        raise RuntimeError("disk full")
    monkeypatch.setattr(pickle, "dump", broken)
    with pytest.raises(RuntimeError):
        Model(seed=2).save_params(str(path))
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["m.pkl"]


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _refused(path, match=None):
    m = Model()
    before = [p.copy() for p in m.params]
    with pytest.raises(ValueError, match=match) as info:
        m.load_params(str(path))
    assert str(path) in str(info.value)
    for p, b in zip(m.params, before):               # nothing written
        np.testing.assert_array_equal(p, b)
    return str(info.value)


def test_objects_are_refused_and_never_run(tmp_path):
    marker = tmp_path / "ran"
    for i, payload in enumerate([[_Evil(str(marker))], _Evil(str(marker)),
                                 [np.array([1, "a"], dtype=object)],
                                 [np.ma.masked_array([1.0, 2.0])],
                                 {"a": np.zeros(3)}, "text", 42]):
        path = tmp_path / ("p%d.pkl" % i)
        with open(path, "wb") as fh:
            pickle.dump(payload, fh, protocol=3)
        _refused(path)
    assert not marker.exists()


def test_wrong_count_and_shapes(tmp_path):
    path = tmp_path / "m.pkl"
    Model(shapes=((4, 3), (3,))).save_params(str(path))
    assert "holds 2 arrays but the model has 3" in _refused(path)
    Model(shapes=((4, 3), (3,), (4, 4))).save_params(str(path))
    assert "shape (4, 4)" in _refused(path)


def test_huge_shape_claims_are_refused(tmp_path):
    # ndarray.__reduce__'s first call asked for a 10^12-element array
    data = (b"\x80\x03cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\n"
            b"\x8a\x06\x00\x10\xa5\xd4\xe8\x00\x85C\x01b\x87R.")
    path = tmp_path / "huge.pkl"
    path.write_bytes(data)
    assert "larger than the file" in _refused(path)
    # a header claiming more data than follows
    good = pickle.dumps([np.zeros(3, np.float16)], protocol=3)
    bad = good.replace(b"K\x03\x85", b"J\x00\x00\x00\x10\x85")
    assert bad != good
    path.write_bytes(bad)
    _refused(path)


def test_not_pickles(tmp_path):
    for i, data in enumerate([b"", b"hello world\n", b"\x80\x03", np.zeros(3).tobytes(),
                              b"PK\x03\x04" + bytes(40)]):
        path = tmp_path / ("x%d.pkl" % i)
        path.write_bytes(data)
        _refused(path)
    with pytest.raises((IsADirectoryError, ValueError)):
        Model().load_params(str(tmp_path))


def test_fifo_is_refused_without_blocking(tmp_path):
    path = tmp_path / "fifo.pkl"
    os.mkfifo(path)
    with pytest.raises(OSError, match="FIFO"):
        Model().load_params(str(path))


def test_random_damage_is_refused_cleanly(tmp_path):
    """Flipped bits and truncations anywhere: an UnsafePickleError (a
    ValueError naming the file), or a load of arrays of the right shapes."""
    path = tmp_path / "m.pkl"
    m = Model()
    m.save_params(str(path))
    good = path.read_bytes()
    rng = np.random.default_rng(0)
    outcomes = set()
    for trial in range(400):
        data = bytearray(good)
        if trial % 3 == 0:
            data = data[:rng.integers(0, len(data))]
        else:
            for _ in range(rng.integers(1, 4)):
                data[rng.integers(0, len(data))] ^= 1 << int(rng.integers(0, 8))
        path.write_bytes(bytes(data))
        other = Model()
        try:
            other.load_params(str(path))
        except ValueError as exc:
            assert str(path) in str(exc)
            outcomes.add("refused")
        else:
            assert [p.shape for p in other.params] == [p.shape for p in m.params]
            outcomes.add("loaded")
    assert "refused" in outcomes


def test_safe_pickle_reads_plain_containers():
    obj = ({"a": 1, "b": [1.5, "x", (2, None, True)]}, {0: "a"}, np.arange(4, dtype=np.int32))
    got = _safe_pickle.loads(pickle.dumps(obj, protocol=3))
    assert got[0] == obj[0] and got[1] == obj[1]
    np.testing.assert_array_equal(got[2], obj[2])
    for protocol in (4, 5):
        np.testing.assert_array_equal(
            _safe_pickle.loads(pickle.dumps(np.ones((2, 3), "f"), protocol=protocol)),
            np.ones((2, 3), "f"))
