"""The sequel's experiments (word2vec, rnnlm, seq2seq, attention), quick:
each trains fastnn and its NumPy twin from one seed on the same batches,
and says how close they are; their figures are written."""
import os

import numpy as np
import pytest

from fastnn.experiments import run_experiment

PNG_MAGIC = b"\x89PNG"


@pytest.fixture(autouse=True)
def own_data_folder(tmp_path, monkeypatch):
    # the addition/date files are generated into the test's own folder
    from fastnn.datasets import locate
    monkeypatch.setattr(locate, "HOME_DIR", str(tmp_path / "home"))
    monkeypatch.delenv("FASTNN_DATA", raising=False)


def _run(name, tmp_path, **overrides):
    return run_experiment(name, quick=True, out=str(tmp_path), overrides=overrides or None,
                          stream=open(os.devnull, "w"))


def test_word2vec_twin_gives_the_same_losses_and_the_nearest_words(tmp_path):
    res = _run("word2vec", tmp_path)
    assert res.numbers["reference"]["same_losses"] is True
    assert res.numbers["corpus"]["vocabulary"] > 100
    nearest = [k for k in res.numbers if k.startswith("nearest ")]
    assert nearest and all(len(res.numbers[k]) == 5 for k in nearest)
    assert (tmp_path / "word2vec" / "word2vec-loss.png").read_bytes().startswith(PNG_MAGIC)


def test_word2vec_reads_a_corpus_file_and_answers_analogies(tmp_path):
    text = " ".join(["the king is a man . the queen is a woman ."] * 200)
    path = tmp_path / "corpus.txt"
    path.write_text(text)
    res = _run("word2vec", tmp_path, corpus=str(path), reference=0)
    assert res.numbers["corpus"]["words"] == len(text.split()) + 1     # + the line's <eos>
    assert "reference" not in res.numbers
    assert "analogy king:man = queen:?" in res.numbers


def test_rnnlm_perplexity_falls_and_the_twin_agrees(tmp_path):
    res = _run("rnnlm", tmp_path)
    curve = res.numbers["curves"]["fast"]
    assert curve[-1] < curve[0]
    assert res.numbers["reference"]["max_relative_gap"] < 1e-4
    assert (tmp_path / "rnnlm" / "rnnlm-perplexity.png").exists()


@pytest.mark.parametrize("name", ["seq2seq", "attention"])
def test_seq2seq_experiments_train_and_draw(name, tmp_path):
    res = _run(name, tmp_path)
    assert all(0 <= a <= 1 for c in res.numbers["curves"].values() for a in c)
    ref = res.numbers["reference"]["seconds_per_step"]
    assert ref["fast"] > 0 and ref["reference"] > 0
    assert res.figures and all(os.path.exists(f) for f in res.figures)
    if name == "attention":
        maps = res.numbers["heatmaps"]
        assert len(maps) == 2
        w = np.array(maps[0]["weights"])
        assert w.shape == (len(maps[0]["answer"]), len(maps[0]["question"]))
        np.testing.assert_allclose(w.sum(axis=1), 1.0, rtol=1e-5)


def test_bad_settings_are_refused_before_any_work(tmp_path):
    with pytest.raises(ValueError, match="setting 'corpus'"):
        _run("word2vec", tmp_path, corpus=str(tmp_path / "missing.txt"))
    with pytest.raises(ValueError, match="setting 'queries'"):
        _run("word2vec", tmp_path, queries=[])
    with pytest.raises(ValueError, match="setting 'reference'"):
        _run("rnnlm", tmp_path, reference=-1)
