"""The logic of scripts/book2-scripts that needs no book checkout: the PTB
vocabulary padding (ch07 generate_text.py), the text and byte-for-byte
comparisons, the patches applied to both runs, and one whole run of the
harness on a small made-up "book" whose scripts exercise a shipped file
copied beside another chapter, a patched chapter module, a padded PTB
vocabulary and dumped arrays.  (tests/test_nlp_book.py runs the real
book's scripts when FASTNN_BOOK2_DIR is set.)"""
import importlib.machinery
import importlib.util
import io
import os
import textwrap

import numpy as np
import pytest

from fastnn.nlp.datasets import ptb

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "scripts", "book2-scripts")


def _load_harness():
    loader = importlib.machinery.SourceFileLoader("book2_scripts", SCRIPT)
    spec = importlib.util.spec_from_loader("book2_scripts", loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


H = _load_harness()

PTB_TEXT = (" the cat sat on the mat \n"
            " a dog ran $ N years ago \n"
            " <unk> saw the dog \n")


# -- vocabulary padding ---------------------------------------------------------

def test_vocabulary_is_the_books_reading():
    # newline -> <eos> glued as the book does; order of first appearance
    assert H.vocabulary(" a b \n b c \n") == ["a", "b", "<eos>", "c"]
    # a line without its trailing space glues <eos> to the word (the book's quirk)
    assert H.vocabulary(" a b\n c \n") == ["a", "b<eos>", "c", "<eos>"]


@pytest.mark.parametrize("size", [16, 17, 40, 10000])
def test_padding_line_gives_exactly_size_words(size):
    padded = H.padding_line(PTB_TEXT, size, ("you", "N", "<unk>", "$"))
    words = H.vocabulary(padded)
    assert len(words) == size
    assert len(set(words)) == size
    for w in ("you", "N", "<unk>", "$"):
        assert w in words
    # the text's own words keep their ids: the padding comes after them
    own = H.vocabulary(PTB_TEXT)
    assert words[:len(own)] == own
    assert padded.startswith(PTB_TEXT)
    assert padded.endswith(" \n") and padded.count("\n") == PTB_TEXT.count("\n") + 1


def test_padded_file_reads_as_size_words_in_fastnns_loader(tmp_path):
    padded = H.padding_line(PTB_TEXT, 300, ("you",))
    (tmp_path / "ptb.train.txt").write_text(padded, encoding="utf-8")
    word_to_id, id_to_word = ptb.load_vocab(str(tmp_path))
    assert len(word_to_id) == 300
    assert [id_to_word[i] for i in range(300)] == H.vocabulary(padded)
    assert "you" in word_to_id and 299 in id_to_word


def test_padding_avoids_the_texts_own_words():
    text = " fastnnpad00001 fastnnpad00002 x \n"
    words = H.vocabulary(H.padding_line(text, 10))
    assert len(words) == len(set(words)) == 10


def test_padding_adds_the_missing_final_newline():
    padded = H.padding_line(" a b c", 8)
    words = H.vocabulary(padded)
    assert len(words) == 8 and words[:4] == ["a", "b", "c", "<eos>"]
    assert "c<eos>" not in words


def test_padding_a_text_of_exactly_size_words_changes_nothing():
    text = " a b c \n"                     # a, b, c, <eos>
    assert H.padding_line(text, 4) == text
    assert H.padding_line(text, 4, ("a",)) == text


def test_padding_refuses_a_text_with_too_many_words():
    with pytest.raises(ValueError, match="more than the 3"):
        H.padding_line(" a b c \n", 3)
    with pytest.raises(ValueError, match="required"):
        H.padding_line(" a b c \n", 4, ("you",))     # 4 + 'you' = 5


def test_padded_ptb_writes_one_file_both_runs_read(tmp_path):
    src = tmp_path / "ptb"
    src.mkdir()
    (src / "ptb.train.txt").write_text(PTB_TEXT, encoding="utf-8")
    (src / "ptb.valid.txt").write_text(" the cat \n", encoding="utf-8")
    out = H.padded_ptb(str(src), 50, ("you",), str(tmp_path))
    assert out == H.padded_ptb(str(src), 50, ("you",), str(tmp_path))   # made once
    assert len(H.vocabulary((tmp_path / out / "ptb.train.txt").read_text())) == 50
    assert (tmp_path / out / "ptb.valid.txt").read_text() == " the cat \n"
    assert (src / "ptb.train.txt").read_text() == PTB_TEXT            # the cut one untouched


# -- comparisons -----------------------------------------------------------------

def test_compare_text():
    assert H.compare_text("a b\nc\n", "a b\nc\n") == (True, 2, 3, None)
    ok, lines, words, first = H.compare_text("a b\nc\n", "a b\nd\n")
    assert not ok and "line 2" in first and "'c'" in first and "'d'" in first
    ok, _, _, first = H.compare_text("a\n", "a\nb\n")
    assert not ok and "1 lines printed by the book, 2" in first
    assert not H.compare_text("a \n", "a\n")[0]


def _npy(array):
    buf = io.BytesIO()
    np.save(buf, array)
    return buf.getvalue()


def test_compare_dumps_is_bit_for_bit():
    a = np.random.default_rng(0).random((3, 4)).astype(np.float32)
    same = {"m_0.npy": _npy(a), "m_1.npy": _npy(a[:, ::-1])}
    assert H.compare_dumps(same, dict(same)) == (True, 2, 24, None)
    b = a.copy()
    b.view(np.uint32)[1, 2] ^= 1                     # one bit of one value
    ok, _, _, first = H.compare_dumps(same, {"m_0.npy": _npy(b), "m_1.npy": same["m_1.npy"]})
    assert not ok and "m_0.npy" in first
    # the same values in another dtype are not the same file
    assert not H.compare_dumps(same, {"m_0.npy": _npy(a.astype(np.float64)),
                                      "m_1.npy": same["m_1.npy"]})[0]
    assert not H.compare_dumps(same, {"m_0.npy": same["m_0.npy"]})[0]


def test_judge_text_and_dumps():
    s = H.Script("ch08", "x.py", {}, False, compare="text", dump="m_*.npy")
    d = {"m_0.npy": _npy(np.eye(2, dtype=np.float32))}
    ok, detail = H.judge(s, ("a\n", d), ("a\n", dict(d)))
    assert ok and "1 lines (1 words) identical" in detail and "1 files (4 values)" in detail
    assert not H.judge(s, ("a\n", d), ("b\n", d))[0]
    ok, detail = H.judge(s, ("a\n", {}), ("a\n", {}))
    assert not ok and "wrote no m_*.npy" in detail
    n = H.Script("ch01", "y.py", {}, False)
    assert H.judge(n, ("loss 1.5\n", {}), ("loss 1.5\n", {})) == (True, "1 identical")
    assert not H.judge(n, ("loss 1.5\n", {}), ("loss 1.25\n", {}))[0]


# -- patches -----------------------------------------------------------------------

def test_a_patch_that_does_not_apply_is_an_error():
    assert H.patched("a = 1\n", {"a = 1": "a = 2"}) == "a = 2\n"
    with pytest.raises(H.PatchError, match="gen.py"):
        H.patched("a = 1\n", {"b = 1": "b = 2"}, "gen.py")


def test_int_of_array_patch_runs_on_numpy_2():
    line = "word_ids.append(int(x))"
    code = "word_ids = []\nx = np.array([7])\n%s\n" % line
    fixed = H.patched(code, H.INT_OF_ARRAY)
    env = {"np": np}
    exec(fixed, env)
    assert env["word_ids"] == [7] and type(env["word_ids"][0]) is int


def test_attention_dump_patch_saves_each_map_it_plots(tmp_path, monkeypatch):
    # the shape of ch08/visualize_attention.py's loop (not its code)
    script = textwrap.dedent('''\
        import numpy as np
        _idx = 0
        def visualize(attention_map, row_labels, column_labels):
            global _idx
            _idx += 1
        for _ in range(3):
            attention_map = np.arange(6, dtype=np.float32).reshape(2, 3)[:, ::-1] + _
            row_labels, column_labels = list('abc'), list('xy')
            visualize(attention_map, row_labels, column_labels)
        ''')
    fixed = H.patched(script, H.DUMP_ATTENTION)
    assert "def visualize(attention_map, row_labels, column_labels):" in fixed
    monkeypatch.chdir(tmp_path)
    exec(compile(fixed, "visualize_attention.py", "exec"), {})
    for i in range(3):
        saved = np.load(tmp_path / ("attention_map_%d.npy" % i))
        assert saved.dtype == np.float32
        np.testing.assert_array_equal(saved, np.arange(6).reshape(2, 3)[:, ::-1] + i)
    assert len(list(tmp_path.glob(H.SCRIPTS[-1].dump))) == 3


def test_script_entries_are_well_formed():
    keys = ["%s/%s" % (s.chapter, s.name) for s in H.SCRIPTS]
    assert len(keys) == len(set(keys))
    for s in H.SCRIPTS:
        assert s.compare in ("numbers", "text")
        assert not s.vocab or s.ptb, s
        for name in s.files:
            assert not os.path.isabs(name) and ".." not in name.split("/")
    for key in ("ch04/eval.py", "ch07/generate_text.py", "ch08/visualize_attention.py"):
        assert key in keys
    assert "ch07/generate_better_text.py" in H.NOT_RUN
    assert not set(H.NOT_RUN) & set(keys)


# -- a whole run on a made-up book -------------------------------------------------

FAKE_PTB_MODULE = '''\
import os
import numpy as np
here = os.path.dirname(os.path.abspath(__file__))


def load_data(data_type="train"):
    with open(os.path.join(here, "ptb.train.txt")) as fh:
        vocab = list(dict.fromkeys(fh.read().replace("\\n", "<eos>").strip().split()))
    word_to_id = {w: i for i, w in enumerate(vocab)}
    id_to_word = dict(enumerate(vocab))
    return np.arange(len(vocab)), word_to_id, id_to_word
'''

FAKE_GEN_MODULE = '''\
import numpy as np


def last_word(x):
    word_ids = []
    word_ids.append(int(x))
    return word_ids[0]
'''

FAKE_SCRIPT = '''\
import sys
sys.path.append('..')
import pickle
import numpy as np
from dataset import ptb
from gen import last_word

corpus, word_to_id, id_to_word = ptb.load_data('train')
with open('../ch06/shipped.pkl', 'rb') as fh:
    shipped = pickle.load(fh)
print(len(word_to_id), word_to_id['you'])
print(id_to_word[last_word(np.array([len(word_to_id) - 1]))])
print(' '.join(id_to_word[i] for i in np.random.choice(len(id_to_word), 5)))
np.save('out_0.npy', shipped * np.random.rand(3).astype(np.float32))
'''


def test_whole_run_on_a_made_up_book(tmp_path, capsys, monkeypatch):
    book = tmp_path / "book"
    for folder in ("common", "dataset", "ch06", "ch07"):
        (book / folder).mkdir(parents=True)
    (book / "common" / "__init__.py").write_text("")
    (book / "dataset" / "__init__.py").write_text("")
    (book / "dataset" / "ptb.py").write_text(FAKE_PTB_MODULE)
    (book / "ch07" / "gen.py").write_text(FAKE_GEN_MODULE)
    (book / "ch07" / "run_me.py").write_text(FAKE_SCRIPT)
    with open(book / "ch06" / "shipped.pkl", "wb") as fh:
        import pickle
        pickle.dump(np.arange(3, dtype=np.float32), fh)
    text = tmp_path / "ptb.txt"
    text.write_text(PTB_TEXT)
    entry = H.Script("ch07", "run_me.py", {}, True, vocab=(40, ("you",)),
                     files=("ch06/shipped.pkl",), modules={"gen.py": H.INT_OF_ARRAY},
                     compare="text", dump="out_*.npy")
    monkeypatch.setattr(H, "SCRIPTS", [entry])
    monkeypatch.setattr(H, "NOT_RUN", {})
    rc = H.main([str(book), "--ptb", str(text), "--show"])
    out = capsys.readouterr().out
    assert rc == 0, out
    line = [ln for ln in out.splitlines() if ln.startswith("ch07/run_me.py")][0]
    assert " OK " in line
    assert "3 lines" in line and "1 files (3 values) identical bit for bit" in line
    shown = out.split("the book's output:\n")[1].splitlines()
    assert shown[0] == "40 %d" % len(H.vocabulary(PTB_TEXT))   # 'you' added first
    assert shown[1].startswith("fastnnpad")                         # id 39 exists

    # a patch that no longer applies fails the script instead of running it unpatched
    monkeypatch.setattr(H, "SCRIPTS", [entry._replace(modules={"gen.py": {"nope": "x"}})])
    assert H.main([str(book), "--ptb", str(text)]) == 1
    assert "patch: 'nope' is not in gen.py" in capsys.readouterr().out


def test_cut_ptb_serves_one_file_as_all_three_splits(tmp_path):
    text = tmp_path / "valid.txt"
    text.write_text("".join(" line %d \n" % i for i in range(10)))
    folder = H.cut_ptb(str(text), 4, str(tmp_path))
    for name in ("ptb.train.txt", "ptb.valid.txt", "ptb.test.txt"):
        assert (tmp_path / folder / name).read_text() == "".join(
            " line %d \n" % i for i in range(4))


BOOK2 = os.environ.get("FASTNN_BOOK2_DIR")
PTB = os.environ.get("FASTNN_PTB_TRAIN")


@pytest.mark.skipif(not BOOK2, reason="set FASTNN_BOOK2_DIR to the sequel's checkout")
@pytest.mark.parametrize("script", ["ch04/eval.py", "ch07/generate_text.py",
                                    "ch08/visualize_attention.py"])
def test_the_books_shipped_parameter_scripts(script):
    """The real book's scripts that load its shipped .pkl files: identical
    output (generate_text.py also needs FASTNN_PTB_TRAIN)."""
    import subprocess
    import sys
    if script == "ch07/generate_text.py" and not PTB:
        pytest.skip("set FASTNN_PTB_TRAIN to a PTB-format text")
    extra = ["--ptb", PTB] if PTB else []
    proc = subprocess.run([sys.executable, SCRIPT, BOOK2, "--only", script] + extra,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith(script)][0]
    assert " OK " in line and "identical" in line
