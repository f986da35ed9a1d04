"""fastnn.nlp.datasets.sequence: the book's toy data format, fastnn's own
addition and date files, and the book's loader's numbers."""
import os

import numpy as np
import pytest

from fastnn.nlp.datasets import sequence

BOOK2 = os.environ.get("FASTNN_BOOK2_DIR")


@pytest.fixture(autouse=True)
def fresh_vocab(tmp_path, monkeypatch):
    # no file from elsewhere: only the test's folders are searched
    from fastnn.datasets import locate
    monkeypatch.setattr(locate, "HOME_DIR", str(tmp_path / "home"))
    monkeypatch.delenv("FASTNN_DATA", raising=False)
    sequence.char_to_id.clear()
    sequence.id_to_char.clear()
    yield
    sequence.char_to_id.clear()
    sequence.id_to_char.clear()


@pytest.mark.parametrize("name, qlen, alen", [("addition.txt", 7, 5), ("date.txt", 29, 11)])
def test_generated_files_have_the_books_format_and_sizes(tmp_path, name, qlen, alen):
    (x, t), (xt, tt) = sequence.load_data(name, data_dir=tmp_path)
    assert x.shape == (45000, qlen) and t.shape == (45000, alen)
    assert xt.shape == (5000, qlen) and tt.shape == (5000, alen)
    char_to_id, id_to_char = sequence.get_vocab()
    assert all(id_to_char[char_to_id[c]] == c for c in char_to_id)
    assert (t[:, 0] == char_to_id["_"]).all()      # the decoder's start symbol
    lines = (tmp_path / name).read_text().splitlines()
    assert len(lines) == 50000 and len({len(line) for line in lines}) == 1


def test_addition_answers_are_the_sums(tmp_path):
    for line in sequence.make_addition(2000, seed=3).splitlines():
        q, a = line.split("_")
        left, right = q.split("+")
        assert int(left) + int(right) == int(a)
    assert len(set(sequence.make_addition(5000, seed=4).splitlines())) == 5000


def test_date_answers_are_the_iso_dates():
    import datetime
    for line in sequence.make_date(500, seed=5).splitlines():
        q, a = line.split("_")
        datetime.date.fromisoformat(a)
        assert len(q) == 29


def test_the_split_and_shuffle_follow_the_seed(tmp_path):
    a = sequence.load_data("addition.txt", seed=7, data_dir=tmp_path)
    b = sequence.load_data("addition.txt", seed=7, data_dir=tmp_path)
    c = sequence.load_data("addition.txt", seed=8, data_dir=tmp_path)
    np.testing.assert_array_equal(a[0][0], b[0][0])
    assert not np.array_equal(a[0][0], c[0][0])


def test_other_files_are_read_as_they_are_and_missing_ones_say_so(tmp_path, capsys):
    (tmp_path / "mine.txt").write_text("ab_c\nba_d\n" * 10)
    (x, t), (xt, tt) = sequence.load_data("mine.txt", data_dir=tmp_path)
    assert x.shape == (18, 2) and t.shape == (18, 2) and xt.shape == (2, 2)
    assert sequence.load_data("nothing.txt", data_dir=tmp_path) is None
    assert "No file: nothing.txt" in capsys.readouterr().out


@pytest.mark.parametrize("text, words", [
    ("ab_c\nabc_d\n", "padded to one length"),
    ("abc\n", "no '_'"),
    ("", "no examples"),
])
def test_malformed_files_get_clear_errors(tmp_path, text, words):
    (tmp_path / "bad.txt").write_text(text)
    with pytest.raises(ValueError, match=words):
        sequence.load_data("bad.txt", data_dir=tmp_path)


@pytest.mark.parametrize("name", ["../x.txt", "/etc/passwd", "", 3])
def test_file_names_are_plain_names(tmp_path, name):
    with pytest.raises(ValueError, match="plain file name"):
        sequence.load_data(name, data_dir=tmp_path)


@pytest.mark.skipif(not BOOK2, reason="set FASTNN_BOOK2_DIR to the sequel's checkout")
@pytest.mark.parametrize("name", ["addition.txt", "date.txt"])
def test_the_books_files_load_as_the_books_loader_loads_them(name, monkeypatch):
    monkeypatch.syspath_prepend(BOOK2)
    from dataset import sequence as book
    book.char_to_id.clear()
    book.id_to_char.clear()
    a = book.load_data(name)
    b = sequence.load_data(name, data_dir=os.path.join(BOOK2, "dataset"))
    for x, y in zip(a[0] + a[1], b[0] + b[1]):
        np.testing.assert_array_equal(x, y)
    assert book.get_vocab() == sequence.get_vocab()
