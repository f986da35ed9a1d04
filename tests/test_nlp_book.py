"""The sequel's own scripts with only their imports changed print the book's
numbers (scripts/book2-scripts), and its util functions give fastnn.nlp's
results.  Skipped unless FASTNN_BOOK2_DIR names a checkout of
oreilly-japan/deep-learning-from-scratch-2 (FASTNN_PTB_TRAIN, a PTB-format
text, adds the scripts that read PTB)."""
import os
import subprocess
import sys

import pytest

BOOK2 = os.environ.get("FASTNN_BOOK2_DIR")
PTB = os.environ.get("FASTNN_PTB_TRAIN")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "scripts", "book2-scripts")

pytestmark = pytest.mark.skipif(not BOOK2, reason="set FASTNN_BOOK2_DIR to the sequel's "
                                                   "checkout")

QUICK = ["ch01/train.py", "ch01/train_custom_loop.py", "ch02/count_method_small.py",
         "ch02/ppmi.py", "ch02/most_similar.py", "ch02/similarity.py"]


def _run(only, *extra):
    proc = subprocess.run([sys.executable, SCRIPT, BOOK2, "--only", only] + list(extra),
                          capture_output=True, text=True, timeout=900)
    return proc


@pytest.mark.parametrize("script", QUICK)
def test_script_prints_the_books_numbers(script):
    proc = _run(script)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith(script)][0]
    assert " OK " in line and "identical" in line


@pytest.mark.skipif(not PTB, reason="set FASTNN_PTB_TRAIN to a PTB-format text")
def test_count_method_big_on_ptb():
    proc = _run("ch02/count_method_big.py", "--ptb", PTB, "--ptb-lines", "300")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_util_against_the_books_functions():
    code = r'''
import sys, numpy as np
sys.path.insert(0, sys.argv[1])
from common import util as book, optimizer as bopt
from fastnn.nlp import util as fast, optimizer as fopt
rng = np.random.default_rng(0)
corpus = rng.integers(0, 80, 3000)
C = book.create_co_matrix(corpus, 80, 2)
assert np.array_equal(fast.create_co_matrix(corpus, 80, 2), C)
with np.errstate(all="ignore"):
    assert np.array_equal(fast.ppmi(C), book.ppmi(C))
g1 = [rng.standard_normal(s).astype("f") for s in [(300, 200), (200,)]]
g2 = [g.copy() for g in g1]
book.clip_grads(g1, 0.5); fast.clip_grads(g2, 0.5)
assert all(np.array_equal(a, b) for a, b in zip(g1, g2))
for name in ["SGD", "Momentum", "Nesterov", "AdaGrad", "RMSprop", "Adam"]:
    p1 = [rng.standard_normal((20, 10)).astype("f")]
    p2 = [p1[0].copy()]
    b, f = getattr(bopt, name)(), getattr(fopt, name)()
    for _ in range(3):
        g = [rng.standard_normal((20, 10)).astype("f")]
        b.update(p1, [g[0].copy()]); f.update(p2, [g[0].copy()])
    assert np.array_equal(p1[0], p2[0]), name
print("ok")
'''
    import fastnn
    where = os.path.dirname(os.path.dirname(os.path.abspath(fastnn.__file__)))
    proc = subprocess.run([sys.executable, "-c", code, BOOK2], capture_output=True, text=True,
                          cwd=BOOK2, env=dict(os.environ, PYTHONPATH=where), timeout=300)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr
