"""bench/compare.py's cases of the sequel's util kernels (fastnn.nlp).

"reference" is the book's own code: its functions imported from
$FASTNN_BOOK2_DIR when that is set (else /work/book2 if present); without a
checkout, NumpyOps (the same statements for the embedding's backward:
``dW[...] = 0; np.add.at``; vectorized NumPy for ppmi, which is far faster
than the book's loop) and the case's name says so.
"""
import os
import sys

import numpy as np

from fastnn.backends import get_ops


def _book_util():
    book = os.environ.get("FASTNN_BOOK2_DIR") or ("/work/book2" if os.path.isdir(
        "/work/book2/common") else None)
    if book is None:
        return None
    if book not in sys.path:
        sys.path.insert(0, book)
    from common import util, layers
    return util, layers


def case_embedding_backward():
    rng = np.random.default_rng(0)
    V, D = 10000, 100
    idx = rng.integers(0, V // 20, (20, 35)).astype(np.int32)      # repeated ids
    dout = rng.standard_normal((20, 35, D)).astype(np.float32)
    dW = np.zeros((V, D), np.float32)
    ops = get_ops()
    fns = {"fastnn": lambda: ops.embedding_backward(dW, idx, dout)}
    book = _book_util()
    if book is not None:
        layer = book[1].Embedding(np.zeros((V, D), np.float32))
        layer.forward(idx)
        fns["reference"] = lambda: layer.backward(dout)
    else:
        fns["reference"] = lambda: get_ops("numpy").embedding_backward(dW, idx, dout)
    try:
        import torch
    except ImportError:
        torch = None
    if torch is not None:             # the same work: zero dW, add the rows at their ids
        tW = torch.zeros((V, D), dtype=torch.float32)
        tidx = torch.from_numpy(idx.reshape(-1).astype(np.int64))
        tdout = torch.from_numpy(dout.reshape(-1, D))

        def tfb():
            tW.zero_()
            tW.index_add_(0, tidx, tdout)
        fns["torch"] = tfb
    nbytes = V * D * 4 + 2 * dout.nbytes          # dW zeroed, dout read, rows added
    return fns, (nbytes, nbytes)


def case_ppmi():
    rng = np.random.default_rng(0)
    c = rng.integers(0, 600, 200000)
    C = get_ops().co_matrix(c, 600, 2)
    ops = get_ops()
    fns = {"fastnn": lambda: ops.ppmi(C)}
    book = _book_util()
    fns["reference"] = (lambda: book[0].ppmi(C)) if book is not None else \
        (lambda: get_ops("numpy").ppmi(C))
    buf = np.random.default_rng(1).random(C.size) + 0.5
    out = np.empty_like(buf)
    fns["floor"] = lambda: np.log2(buf, out=out)    # NumPy's log2 of every entry, alone
    return fns, "np.log2 of V² float64"


def nlp_cases():
    suffix = "" if _book_util() is not None else " (reference: NumpyOps)"
    yield ("Embedding bwd V=10000 (20,35) f32" + suffix), case_embedding_backward
    yield ("ppmi V=600" + suffix), case_ppmi
