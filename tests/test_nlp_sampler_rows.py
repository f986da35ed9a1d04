"""The exact UnigramSampler's row-parallel arrangement (word2vec_sampler.h):
eight rows' first rounds in one pass, each row's p.sum() from the cached
pairwise tree, later rounds recomputed from the first changed entry.  Every
case compares the samples and the global generator's state with NumPy's own
``choice`` (NumpyOps, the book's statements)."""
import numpy as np
import pytest

from fastnn._kernels import word2vec as sampler
from fastnn.backends import get_ops

C, N = get_ops("compiled"), get_ops("numpy")


def _word_p(rng, V, power=0.75):
    counts = np.bincount((rng.zipf(1.3, 30 * V) - 1) % V, minlength=V).astype(np.float64)
    counts[counts == 0] = 1
    p = counts ** power
    return p / np.sum(p)


def _run(ops, word_p, target, S, seed):
    np.random.seed(seed)
    try:
        out = ops.unigram_sample(word_p, target, S)
        err = None
    except ValueError as e:
        out, err = None, str(e).split(" (")[0]
    return out, err, np.random.get_state()


def _same(word_p, target, S, seed=1):
    a, ea, sa = _run(N, word_p, target, S, seed)
    b, eb, sb = _run(C, word_p, target, S, seed)
    assert ea == eb
    if a is not None:
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(sa[1], sb[1])
    assert sa[2] == sb[2]
    return b if eb is None else eb


@pytest.mark.parametrize("n", [1, 5, 8, 9, 64, 127, 128, 129, 130, 136, 255, 256, 257,
                               1000, 4099, 10000])
def test_the_sum_without_one_entry_is_numpys(n):
    rng = np.random.default_rng(n)
    a = rng.random(n) ** 3
    ts = sorted({0, n - 1, n // 2, min(n - 1, 63), min(n - 1, 64), min(n - 1, 128)}
                | set(rng.integers(0, n, 20).tolist()))
    for t in ts:
        p = a.copy()
        p[t] = 0
        assert sampler.pairwise_sum_without(a, t) == np.sum(p)


def test_the_sum_without_one_entry_checks_its_arguments():
    with pytest.raises(ValueError, match="t must be in"):
        sampler.pairwise_sum_without(np.ones(5), 5)
    with pytest.raises(TypeError):
        sampler.pairwise_sum_without(np.ones(5, np.float32), 0)


@pytest.mark.parametrize("B", [1, 2, 3, 4, 5, 7, 8, 9, 13])
def test_batches_around_the_group_size(B):
    rng = np.random.default_rng(B)
    V = 300
    word_p = _word_p(rng, V)
    target = rng.integers(0, V, B)
    _same(word_p, target, 5, seed=B)


def test_targets_repeated_and_at_both_ends_within_a_group():
    rng = np.random.default_rng(2)
    V = 1000
    word_p = _word_p(rng, V)
    for target in ([0, 0, 0, 0], [V - 1, 0, V - 1, 0], [5, 5, 6, 5, 7],
                   [0, 1, 2, 3], [V - 4, V - 3, V - 2, V - 1], [63, 64, 127, 128, 129]):
        _same(word_p, np.array(target), 5, seed=len(target))


@pytest.mark.parametrize("S", [1, 5, 8, 9])
def test_many_rounds_with_few_words(S):
    """Ten words, most of them drawn: most rows take several rounds, each
    recomputing its chain from a different first changed entry."""
    rng = np.random.default_rng(S)
    word_p = _word_p(rng, 10, power=1.5)
    target = rng.integers(0, 10, 37)
    out = _same(word_p, target, S, seed=S)
    assert all(len(set(row)) == S for row in out.tolist())


def test_zero_probability_words_and_skewed_draws():
    rng = np.random.default_rng(9)
    V = 2000
    word_p = _word_p(rng, V, power=2.0)          # a few words take most of the mass
    word_p[rng.choice(V, 300, replace=False)] = 0
    word_p /= word_p.sum()
    target = rng.integers(0, V, 101)
    _same(word_p, target, 5, seed=9)


@pytest.mark.parametrize("bad_row", [0, 1, 2, 3, 4, 6])
def test_a_failing_row_inside_a_group_leaves_the_books_generator_state(bad_row):
    """Rows before the failing one are drawn (the book's loop), nothing after:
    the generator's state after the error is the book's."""
    V = 40
    few = np.zeros(V)
    few[:4] = [0.4, 0.3, 0.2, 0.1]               # 4 words: S = 4 fails when the target is one
    target = np.full(8, 10)
    target[bad_row] = 2
    assert _same(few, target, 4, seed=bad_row) == "Fewer non-zero entries in p than size"
    nan_row = np.zeros(V)
    nan_row[7] = 1.0
    target = np.full(8, 0)
    target[bad_row] = 7                          # its p.sum() is 0: "contain NaN"
    with np.errstate(invalid="ignore"):
        assert _same(nan_row, target, 1, seed=bad_row) == "probabilities contain NaN"


def test_the_book_cbow_vocabulary():
    """V = 10,000 with the profile's skewed corpus, a batch of 100 (25 groups)."""
    rng = np.random.default_rng(0)
    V = 10000
    word_p = _word_p(rng, V)
    target = rng.integers(0, V, 100)
    _same(word_p, target, 5, seed=0)


def _book_chain(w, t, found_sets=()):
    p = w.copy()
    p[t] = 0
    p /= p.sum()
    for found in found_sets:
        p[list(found)] = 0
    return np.cumsum(p)


@pytest.mark.parametrize("V", [1, 7, 8, 130, 1000, 10000])
def test_the_chains_are_numpys_cumsum_bit_for_bit(V):
    """The draws hardly ever reveal a last-bit difference in a cumulative sum
    (x would have to fall between the two values), so the chains are compared
    themselves: every entry of every row, with the target anywhere."""
    rng = np.random.default_rng(V)
    w = _word_p(rng, V) if V > 1 else np.ones(1)
    w[rng.integers(0, V, V // 10)] = 0
    for _ in range(3):
        targets = rng.integers(0, V, 4).tolist()
        if V > 1:
            targets[1] = targets[0]              # two rows with one target
        c = sampler._chains(w, targets)
        for r, t in enumerate(targets):
            if V > 1 or t != 0:
                np.testing.assert_array_equal(c[r], _book_chain(w, t))
        for R in (1, 3):                         # fewer rows than a group
            np.testing.assert_array_equal(sampler._chains(w, targets[:R]), c[:R])


@pytest.mark.parametrize("V", [10, 300, 10000])
def test_later_rounds_are_numpys_cumsum_bit_for_bit(V):
    rng = np.random.default_rng(V + 1)
    w = _word_p(rng, V)
    for _ in range(5):
        t = int(rng.integers(0, V))
        rounds, seen = [], {t}
        for _ in range(3):                       # each round: a few new indices
            new = {int(k) for k in rng.integers(0, V, 3)} - seen
            if new:
                rounds.append(new)
                seen |= new
        c = sampler._chains(w, [t, 0], later=rounds)
        np.testing.assert_array_equal(c[0], _book_chain(w, t, rounds))


@pytest.mark.parametrize("V", [40, 300, 10000])
def test_the_chains_from_the_table_of_distinct_values_are_numpys(V):
    # A unigram table's few distinct values: each quotient formed once per
    # value and row; eight rows whose targets have distinct probabilities
    # (distinct sums), the later rounds of row 0 read from its own lane.
    rng = np.random.default_rng(V + 7)
    w = _word_p(rng, V, power=1.5)
    if sampler._value_classes(w) is None:
        pytest.skip("too many distinct values at this V")
    _, first = np.unique(w, return_index=True)
    targets = [int(k) for k in np.resize(first[::-1], 8)]
    c = sampler._chains(w, targets, table=True)
    np.testing.assert_array_equal(c, sampler._chains(w, targets))
    for r, t in enumerate(targets):
        np.testing.assert_array_equal(c[r], _book_chain(w, t))
    rounds = [{int(targets[1]), int(targets[2])}, {int(first[0])} - {targets[0]}]
    rounds = [r for r in rounds if r and targets[0] not in r]
    c = sampler._chains(w, targets, later=rounds, table=True)
    np.testing.assert_array_equal(c[0], _book_chain(w, targets[0], rounds))
