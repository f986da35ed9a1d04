#!/usr/bin/env python3
"""The sequel's hot util functions: fastnn.nlp against the book's own code,
timed in alternating processes.

    python bench/nlp_vs_book.py [--book2 DIR] [--rounds 5] [--threads N]

Each round starts one process per side (book, fastnn) in turn, for every
case; a process times its case (median of repeated calls after a warm-up)
and prints one number.  The report gives each side's median over the rounds
and the ratio of the medians.  Alternating processes spread the noise of a
shared machine over both sides.  The book's functions are imported from its
checkout (default $FASTNN_BOOK2_DIR, else /work/book2); the results of the
two sides are also compared for equality.

Cases (issue #20's targets):
  embed-bwd   Embedding backward, V = 10,000, D = 100, ids (20, 35) with
              repeats: the book's ``dW[...] = 0; np.add.at(dW, idx, dout)``
              against ``ops.embedding_backward`` (target >= 10x)
  add-at      the same, the book's np.add.at alone (without the zeroing)
  ppmi-600    ppmi of a 600 x 600 co-occurrence matrix (target >= 100x)
  co-matrix   create_co_matrix of 100,000 ids, V = 600, window 2
  clip        clip_grads of Rnnlm's gradients (V = 10,000, D = H = 100), float32
"""
import argparse
import os
import statistics
import subprocess
import sys

CASES = ["embed-bwd", "add-at", "ppmi-600", "co-matrix", "clip"]

CHILD = r'''
import os, sys, time, statistics
import numpy as np
side, case, book2 = sys.argv[1], sys.argv[2], sys.argv[3]
if side == "book":
    sys.path.insert(0, book2)
    from common import util
else:
    from fastnn.nlp import util
    from fastnn.backends import get_ops
rng = np.random.default_rng(0)
def corpus(n, V):
    return rng.integers(0, V, n)
if case in ("embed-bwd", "add-at"):
    V, D = 10000, 100
    idx = rng.integers(0, V // 20, (20, 35)).astype(np.int32)     # repeated ids
    dout = rng.standard_normal((20, 35, D)).astype(np.float32)
    dW = np.zeros((V, D), np.float32)
    if side == "book":
        if case == "add-at":
            fn = lambda: np.add.at(dW, idx, dout)
        else:
            def fn():
                dW[...] = 0
                np.add.at(dW, idx, dout)
    else:
        ops = get_ops()
        fn = lambda: ops.embedding_backward(dW, idx, dout)
    calls = 50
elif case == "ppmi-600":
    C = np.zeros((600, 600), np.int32)
    c = corpus(200000, 600)
    for d in (1, 2):
        np.add.at(C, (c[d:], c[:-d]), 1)
        np.add.at(C, (c[:-d], c[d:]), 1)
    fn = lambda: util.ppmi(C)
    calls = 3 if side == "book" else 50
elif case == "co-matrix":
    c = corpus(100000, 600)
    fn = lambda: util.create_co_matrix(c, 600, 2)
    calls = 3 if side == "book" else 50
elif case == "clip":
    shapes = [(10000, 100), (100, 400), (100, 400), (400,), (100, 10000), (10000,)]
    grads = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    fn = lambda: util.clip_grads(grads, 1e9)       # the norm pass (no scaling)
    calls = 30
import warnings
warnings.simplefilter("ignore")
fn()
times = []
for _ in range(calls):
    t = time.perf_counter()
    fn()
    times.append(time.perf_counter() - t)
print(statistics.median(times))
'''


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--book2", default=os.environ.get("FASTNN_BOOK2_DIR", "/work/book2"))
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--cases", nargs="*", default=CASES)
    ap.add_argument("--threads", type=int, default=1,
                    help="FASTNN_NUM_THREADS and BLAS threads of both sides (default 1)")
    args = ap.parse_args()
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [here] + [p for p in [os.environ.get("PYTHONPATH")] if p]))
    for var in ("FASTNN_NUM_THREADS", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
        env[var] = str(args.threads)
    results = {(c, s): [] for c in args.cases for s in ("book", "fastnn")}
    for _ in range(args.rounds):
        for case in args.cases:
            for side in ("book", "fastnn"):
                out = subprocess.run([sys.executable, "-c", CHILD, side, case, args.book2],
                                     env=env, capture_output=True, text=True, check=True)
                results[case, side].append(float(out.stdout.split()[-1]))
    print("%-10s %12s %12s %8s   (medians of %d alternating processes, %d thread(s))"
          % ("case", "book", "fastnn", "ratio", args.rounds, args.threads))
    for case in args.cases:
        b = statistics.median(results[case, "book"])
        f = statistics.median(results[case, "fastnn"])
        print("%-10s %10.3f ms %10.3f ms %7.1fx" % (case, b * 1e3, f * 1e3, b / f))


if __name__ == "__main__":
    main()
