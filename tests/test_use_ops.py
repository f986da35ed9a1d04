"""fastnn.backends.use_ops: the sequel's layers and models built inside it run
on that ops object; the first book's layers keep theirs."""
import threading

import pytest

from fastnn import layers
from fastnn.backends import get_ops, use_ops
from fastnn.nlp.cbow import CBOW
from fastnn.nlp.layers import Affine, Embedding
import numpy as np


def test_the_sequels_layers_take_the_ops_of_their_context():
    W = np.zeros((5, 3), dtype=np.float32)
    with use_ops("numpy") as ops:
        assert ops is get_ops("numpy") and get_ops() is ops
        inside = Embedding(W)
        model = CBOW(10, 4, 1, np.arange(10))
    outside = Embedding(W)
    assert inside.ops.name == "numpy" and outside.ops.name == "compiled"
    assert {layer.ops.name for layer in model.in_layers} == {"numpy"}
    assert model.ns_loss.sampler.ops.name == "numpy"
    assert get_ops().name == "compiled"


def test_the_first_books_layers_keep_their_backends_ops():
    with use_ops("numpy"):
        assert layers.Relu().ops.name == "compiled"


def test_the_context_is_per_thread():
    seen = []
    with use_ops("numpy"):
        t = threading.Thread(
            target=lambda: seen.append(Affine(np.zeros((2, 2)), np.zeros(2)).ops.name))
        t.start()
        t.join()
    assert seen == ["compiled"]


def test_an_unknown_ops_name_fails_at_once():
    with pytest.raises(ValueError, match="ops must be"):
        with use_ops("gpu"):
            pass
    assert get_ops().name == "compiled"
