"""The sequel's negative sampler (UnigramSampler's draws) on the compiled ops:
the book's exact stream, bit for bit, and the global generator left where
the book leaves it."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from fastnn._kernels import word2vec as sampler
from fastnn.backends import get_ops

C, N = get_ops("compiled"), get_ops("numpy")


def _word_p(rng, V, power=0.75, zeros=0):
    counts = np.bincount((rng.zipf(1.3, 30 * V) - 1) % V, minlength=V).astype(np.float64)
    counts[counts == 0] = 1
    counts[rng.choice(V, size=zeros, replace=False)] = 0
    p = counts ** power
    return p / np.sum(p)


def _both(word_p, target, S, seed):
    np.random.seed(seed)
    a = N.unigram_sample(word_p, target, S)
    sa = np.random.get_state()
    np.random.seed(seed)
    b = C.unigram_sample(word_p, target, S)
    sb = np.random.get_state()
    return a, b, sa, sb


@settings(max_examples=60, deadline=None)
@given(V=st.integers(2, 400), B=st.integers(0, 40), S=st.integers(0, 6),
       seed=st.integers(0, 2**32 - 1), zeros=st.integers(0, 3), data=st.data())
def test_samples_and_generator_state_are_the_books(V, B, S, seed, zeros, data):
    rng = np.random.default_rng(seed)
    zeros = min(zeros, V - 2)
    word_p = _word_p(rng, V, zeros=zeros)
    target = rng.integers(0, V, B)
    if S > np.count_nonzero(word_p) - 1:
        S = max(0, np.count_nonzero(word_p) - 1)
    a, b, sa, sb = _both(word_p, target, S, seed)
    assert b.dtype == np.int32 and b.shape == (B, S)
    np.testing.assert_array_equal(a, b)
    assert sa[2] == sb[2]
    np.testing.assert_array_equal(sa[1], sb[1])


def test_a_large_vocabulary_with_many_repeats():
    # V = 10,000 as in the book's PTB run; a skewed distribution makes
    # repeated draws (the rounds after the first) common.
    rng = np.random.default_rng(3)
    word_p = _word_p(rng, 10000, power=2.0)
    target = rng.integers(0, 10000, 200)
    a, b, sa, sb = _both(word_p, target, 5, 11)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(sa[1], sb[1])


def test_each_row_is_distinct_and_excludes_its_target():
    rng = np.random.default_rng(4)
    word_p = _word_p(rng, 30)
    target = rng.integers(0, 30, 500)
    out = C.unigram_sample(word_p, target, 5)
    assert all(len(set(row)) == 5 for row in out.tolist())
    assert not (out == target[:, None]).any()


@pytest.mark.parametrize("n", list(range(0, 300, 7)) + [1023, 8191, 8192, 8193, 10000, 65537])
def test_pairwise_sum_is_numpys(n):
    a = np.random.default_rng(n).random(n) ** 3
    assert sampler.pairwise_sum(a) == np.sum(a)


def test_other_dtypes_and_layouts_take_numpys_code_with_the_same_numbers():
    rng = np.random.default_rng(5)
    word_p = _word_p(rng, 50)
    target = rng.integers(0, 50, 10)
    for wp, tg in ((word_p.astype(np.float32), target),
                   (np.repeat(word_p, 2)[::2], target),
                   (word_p, target.astype(np.int32)),
                   (word_p, np.repeat(target, 2)[::2])):
        a, b, _, _ = _both(wp, tg, 4, 9)
        np.testing.assert_array_equal(a, b)


def test_bad_input_gets_clear_errors():
    word_p = _word_p(np.random.default_rng(6), 20)
    with pytest.raises(ValueError, match="target ids must be in"):
        C.unigram_sample(word_p, np.array([0, 20]), 3)
    with pytest.raises(ValueError, match="target ids must be in"):
        C.unigram_sample(word_p, np.array([-1]), 3)
    with pytest.raises(ValueError, match="sample_size must be in"):
        C.unigram_sample(word_p, np.array([0]), 21)
    bad = word_p.copy()
    bad[3] = np.nan
    with pytest.raises(ValueError, match="finite and >= 0"):
        C.unigram_sample(bad, np.array([0]), 3)
    few = np.zeros(20)
    few[:3] = 1 / 3
    with pytest.raises(ValueError, match="Fewer non-zero entries"):
        C.unigram_sample(few, np.array([5, 0]), 3)   # row 1: its target is one of the three
    with pytest.raises(ValueError, match="Fewer non-zero entries"):
        N.unigram_sample(few, np.array([5, 0]), 3)   # as NumPy's choice says
    one = np.zeros(20)
    one[4] = 1.0
    for ops in (C, N):
        with pytest.raises(ValueError, match="probabilities contain NaN"), \
                np.errstate(invalid="ignore"):
            ops.unigram_sample(one, np.array([4]), 0)


@pytest.mark.parametrize("n", [3, 9, 200])
def test_pairwise_sum_of_negative_zeros_is_positive_zero_as_numpys(n):
    a = np.full(n, -0.0)
    assert np.signbit(sampler.pairwise_sum(a)) == np.signbit(np.sum(a)) == False  # noqa: E712


def test_fast_mode_draws_the_books_distribution_from_its_own_generator():
    from fastnn.nlp.negative_sampling_layer import UnigramSampler
    rng = np.random.default_rng(8)
    V = 12
    corpus = np.repeat(np.arange(V), [200, 90, 60, 30, 20, 10, 8, 6, 4, 3, 2, 1])
    exact = UnigramSampler(corpus, 0.75, 3)
    fast = UnigramSampler(corpus, 0.75, 3, mode="fast", seed=5)
    target = rng.integers(0, V, 20000)
    state = np.random.get_state()
    np.random.seed(2)
    a = exact.get_negative_sample(target)
    b = fast.get_negative_sample(target)
    np.random.set_state(state)
    for out in (a, b):
        assert out.dtype == np.int32 and out.shape == (20000, 3)
        assert all(len(set(r)) == 3 for r in out[:2000].tolist())
        assert not (out == target[:, None]).any()
    # the first, second and third draws' frequencies agree (successive sampling
    # without replacement), within 5 standard errors
    for col in range(3):
        fa = np.bincount(a[:, col], minlength=V) / len(a)
        fb = np.bincount(b[:, col], minlength=V) / len(b)
        se = np.sqrt(fa * (1 - fa) / len(a) + fb * (1 - fb) / len(b)) + 1e-12
        assert (np.abs(fa - fb) < 5 * se + 1e-3).all(), (col, fa, fb)
    # its own stream: the global generator is untouched, the seed repeats it
    state = np.random.get_state()[1].copy()
    again = UnigramSampler(corpus, 0.75, 3, mode="fast", seed=5).get_negative_sample(target)
    np.testing.assert_array_equal(again, b)
    np.testing.assert_array_equal(np.random.get_state()[1], state)


def test_fast_mode_arguments_are_checked():
    from fastnn.nlp.negative_sampling_layer import UnigramSampler
    with pytest.raises(ValueError, match="mode must be"):
        UnigramSampler(np.arange(5), 0.75, 2, mode="alias")
    with pytest.raises(ValueError, match="seed is only used"):
        UnigramSampler(np.arange(5), 0.75, 2, seed=1)
    with pytest.raises(ValueError, match="more than sample_size"):
        UnigramSampler(np.arange(3), 0.75, 3, mode="fast")


@pytest.mark.parametrize("distinct", [False, True])
def test_both_ways_of_forming_the_quotients_give_the_books_stream(distinct):
    # A corpus's unigram table has few distinct values (words of equal count):
    # the quotients come from a table of them; all-distinct values are
    # divided entry by entry.  Skewed, so that later rounds are common.
    rng = np.random.default_rng(8)
    V = 3000
    word_p = _word_p(rng, V, power=1.5)
    if distinct:
        word_p = word_p * (1 + 1e-9 * rng.random(V))
        word_p /= word_p.sum()
    assert (sampler._value_classes(word_p) is None) == distinct
    target = rng.integers(0, V, 150)
    a, b, sa, sb = _both(word_p, target, 5, 4)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(sa[1], sb[1])
    # the table is kept for the last word_p, and rebuilt when it changes
    other = word_p.copy()
    other[[0, 1]] = other[[1, 0]]
    a, b, sa, sb = _both(other, target, 5, 5)
    np.testing.assert_array_equal(a, b)


def test_rows_of_one_group_with_different_sums_keep_their_own_quotients():
    # Eight rows a group: targets of distinct probabilities give each row its
    # own p.sum(), so a row reading another row's quotients would show.
    rng = np.random.default_rng(12)
    V = 2000
    word_p = _word_p(rng, V, power=1.5)
    assert sampler._value_classes(word_p) is not None
    _, first = np.unique(word_p, return_index=True)
    target = np.resize(first[::-1], 160)
    a, b, sa, sb = _both(word_p, target, 5, 9)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(sa[1], sb[1])
