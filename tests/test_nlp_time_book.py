"""fastnn.nlp's language models against the book's own model files
(oreilly-japan/deep-learning-from-scratch-2), step for step.  Skipped
unless FASTNN_BOOK2_DIR names a checkout; each check runs in a subprocess
at one thread (FASTNN_NUM_THREADS=1, OPENBLAS_NUM_THREADS=1: a GEMM that
either BLAS splits over its inner dimension rounds differently with the
thread count).

SimpleRnnlm (ch05) and Rnnlm (ch06) equal the book bit for bit: losses,
every gradient and parameter after SGD steps with clip_grads.  BetterRnnlm
(650-wide LSTMs at full size; small here, where it is exact too) is
checked at the book's sizes' tolerance."""
import os
import subprocess
import sys

import pytest

BOOK2 = os.environ.get("FASTNN_BOOK2_DIR")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

pytestmark = pytest.mark.skipif(not BOOK2, reason="set FASTNN_BOOK2_DIR to the sequel's "
                                                   "checkout")

CODE = r'''
import sys, numpy as np
book = sys.argv[1]
sys.path[:0] = [book, book + "/ch05", book + "/ch06"]
import simple_rnnlm as b_simple, rnnlm as b_rnnlm, better_rnnlm as b_better
from common.optimizer import SGD as b_SGD
from common.trainer import remove_duplicate as b_dup
from common.util import clip_grads as b_clip
from fastnn.nlp.simple_rnnlm import SimpleRnnlm
from fastnn.nlp.rnnlm import Rnnlm
from fastnn.nlp.better_rnnlm import BetterRnnlm
from fastnn.nlp.optimizer import SGD
from fastnn.nlp.trainer import remove_duplicate
from fastnn.nlp.util import clip_grads

def run(make, sgd, dup, clip, V, steps, N, T):
    np.random.seed(7)
    m = make()
    rs = np.random.RandomState(3)
    out = []
    for _ in range(steps):
        xs = rs.randint(0, V, (N, T)).astype("i"); ts = rs.randint(0, V, (N, T)).astype("i")
        np.random.seed(rs.randint(1 << 30))          # the dropout masks
        out.append(np.float64(m.forward(xs, ts)))
        m.backward()
        out += [g.copy() for g in m.grads]
        params, grads = dup(m.params, m.grads)
        clip(grads, 0.25)
        sgd.update(params, grads)
    return out + [p.copy() for p in m.params]

cases = [("SimpleRnnlm", lambda: b_simple.SimpleRnnlm(300, 40, 40),
          lambda: SimpleRnnlm(300, 40, 40), 300, 0),
         ("Rnnlm", lambda: b_rnnlm.Rnnlm(2000, 100, 100), lambda: Rnnlm(2000, 100, 100), 2000, 0),
         ("BetterRnnlm", lambda: b_better.BetterRnnlm(500, 64, 64),
          lambda: BetterRnnlm(500, 64, 64), 500, 0)]
for name, mb, mf, V, tol in cases:
    a = run(mb, b_SGD(20.0), b_dup, b_clip, V, 4, 20, 35)
    b = run(mf, SGD(20.0), remove_duplicate, clip_grads, V, 4, 20, 35)
    bad = [i for i, (x, y) in enumerate(zip(a, b)) if not np.array_equal(x, y)]
    print(name, "identical" if not bad else "differ at %s" % bad[:5])
'''


def test_models_step_for_step_with_the_book():
    env = dict(os.environ, FASTNN_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join([ROOT, os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.run([sys.executable, "-c", CODE, BOOK2], capture_output=True, text=True,
                          timeout=600, env=env, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    lines = dict(line.split(" ", 1) for line in proc.stdout.splitlines())
    assert lines == {"SimpleRnnlm": "identical", "Rnnlm": "identical",
                     "BetterRnnlm": "identical"}, proc.stdout


GEN = r'''
import sys, numpy as np
book, fixed = sys.argv[1], sys.argv[2]
sys.path[:0] = [book, fixed]
import rnnlm_gen as b_gen
from fastnn.nlp.rnnlm_gen import RnnlmGen
b, f = b_gen.RnnlmGen(), RnnlmGen()
b.load_params(book + "/ch06/Rnnlm.pkl")
f.load_params(book + "/ch06/Rnnlm.pkl")
out = []
for m in (b, f):
    np.random.seed(2017)
    out.append(m.generate(3, skip_ids=[27, 26], sample_size=60))
print("same" if out[0] == out[1] else "differ", len(out[1]))
'''


def test_generation_with_the_shipped_model(tmp_path):
    """ch07's RnnlmGen with the book's Rnnlm.pkl samples the book's words (the
    book's rnnlm_gen.py with its int() of a one-element array fixed for NumPy 2)."""
    src = os.path.join(BOOK2, "ch07", "rnnlm_gen.py")
    with open(src, encoding="utf-8") as fh:
        text = fh.read().replace("word_ids.append(int(x))", "word_ids.append(int(x[0]))")
    (tmp_path / "rnnlm_gen.py").write_text(text, encoding="utf-8")
    env = dict(os.environ, FASTNN_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join([ROOT, os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.run([sys.executable, "-c", GEN, BOOK2, str(tmp_path)],
                          capture_output=True, text=True, timeout=600, env=env, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["same", "60"], proc.stdout
