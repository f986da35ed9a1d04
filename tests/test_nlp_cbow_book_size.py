"""Issue #21's case at the book's own sizes (ch04: V = 10,000, H = 100,
window 5, 5 negatives, batch 100, Adam): a few training steps of fastnn's
CBOW, remove_duplicate (fused) and Adam give the book's losses and
parameters bit for bit.  Needs the sequel's checkout (FASTNN_BOOK2_DIR)."""
import os
import sys

import numpy as np
import pytest

from fastnn.nlp.cbow import CBOW
from fastnn.nlp.optimizer import Adam
from fastnn.nlp.trainer import remove_duplicate

BOOK2 = os.environ.get("FASTNN_BOOK2_DIR")


@pytest.mark.skipif(not BOOK2, reason="set FASTNN_BOOK2_DIR to the sequel's checkout")
def test_book_sized_cbow_steps_are_the_books(monkeypatch):
    monkeypatch.syspath_prepend(BOOK2)
    monkeypatch.syspath_prepend(os.path.join(BOOK2, "ch04"))
    for mod in ("common", "cbow", "negative_sampling_layer"):
        for key in [k for k in sys.modules if k == mod or k.startswith(mod + ".")]:
            monkeypatch.delitem(sys.modules, key)
    import cbow
    from common.optimizer import Adam as BookAdam
    from common.trainer import remove_duplicate as book_rd
    rng = np.random.default_rng(21)
    V, H, W, B = 10000, 100, 5, 100
    corpus = (rng.zipf(1.3, 200000) - 1) % V
    corpus[:V] = np.arange(V)
    results = []
    for cls, rd, opt_cls in ((cbow.CBOW, book_rd, BookAdam), (CBOW, remove_duplicate, Adam)):
        np.random.seed(3)
        model, opt = cls(V, H, W, corpus), opt_cls()
        batch = np.random.default_rng(4)
        losses = []
        for _ in range(3):
            contexts = batch.integers(0, V, (B, 2 * W))
            target = batch.integers(0, V, B)
            losses.append(model.forward(contexts, target))
            model.backward()
            params, grads = rd(model.params, model.grads)
            assert len(params) == 2
            opt.update(params, grads)
        results.append((losses, [p.copy() for p in model.params[:1] + model.params[-1:]],
                        np.random.get_state()[1].copy()))
    (l1, p1, s1), (l2, p2, s2) = results
    assert l1 == l2
    for a, b in zip(p1, p2):
        assert a.dtype == b.dtype == np.float32
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(s1, s2)
