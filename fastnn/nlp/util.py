"""The book's ``common/util.py`` (the sequel's).

The counting methods run compiled: ``create_co_matrix`` counts in C and
``ppmi`` computes the book's per-entry formula over blocks of rows
(``ops.co_matrix``, ``ops.ppmi``: the book's numbers, to the bit, and its
``verbose`` progress lines); ``clip_grads`` is one fused pass
(``ops.clip_grads``).  The rest keep the book's code paths where their
printed numbers depend on them (``most_similar`` and ``analogy`` print
similarities at full precision) and are vectorized where the result is the
same array (``convert_one_hot``, ``create_contexts_target``, the batches of
``eval_perplexity``).

Bad input gets a clear error: a corpus of non-integers (TypeError) or of ids
outside the vocabulary (ValueError), a co-occurrence matrix that is not 2-D.
"""
import os
import sys

from ..backends import get_ops
from .config import GPUNotSupportedError, _MESSAGE
from .np import GPU, np  # noqa: F401  (the book star-imports both from common.np)

__all__ = ["preprocess", "cos_similarity", "most_similar", "convert_one_hot",
           "create_co_matrix", "ppmi", "create_contexts_target", "to_cpu", "to_gpu",
           "clip_grads", "eval_perplexity", "eval_seq2seq", "analogy", "normalize"]


def _ops():
    return get_ops()


def preprocess(text):
    text = text.lower()
    text = text.replace('.', ' .')
    words = text.split(' ')

    word_to_id = {}
    id_to_word = {}
    for word in words:
        if word not in word_to_id:
            new_id = len(word_to_id)
            word_to_id[word] = new_id
            id_to_word[new_id] = word

    corpus = np.array([word_to_id[w] for w in words])
    return corpus, word_to_id, id_to_word


def cos_similarity(x, y, eps=1e-8):
    '''Cosine similarity of two vectors (eps keeps a zero vector from dividing by 0).'''
    nx = x / (np.sqrt(np.sum(x ** 2)) + eps)
    ny = y / (np.sqrt(np.sum(y ** 2)) + eps)
    return np.dot(nx, ny)


def most_similar(query, word_to_id, id_to_word, word_matrix, top=5):
    '''Print the ``top`` words whose rows of ``word_matrix`` are most similar to ``query``'s.'''
    if query not in word_to_id:
        print('%s is not found' % query)
        return

    print('\n[query] ' + query)
    query_id = word_to_id[query]
    query_vec = word_matrix[query_id]

    vocab_size = len(id_to_word)
    # One cos_similarity per row, as the book computes them: the printed
    # values are the book's to the last digit.
    similarity = np.zeros(vocab_size)
    for i in range(vocab_size):
        similarity[i] = cos_similarity(word_matrix[i], query_vec)

    count = 0
    for i in (-1 * similarity).argsort():
        if id_to_word[i] == query:
            continue
        print(' %s: %s' % (id_to_word[i], similarity[i]))
        count += 1
        if count >= top:
            return


def _id_array(name, corpus):
    a = np.asarray(corpus)
    if a.dtype.kind not in "iu":
        raise TypeError("%s must hold integer word ids, got dtype %s" % (name, a.dtype))
    return a


def _check_vocab(name, a, vocab_size):
    if a.size and (a.min() < 0 or a.max() >= vocab_size):
        bad = a.min() if a.min() < 0 else a.max()
        raise ValueError("%s holds the word id %d, outside [0, %d) (vocab_size)"
                         % (name, bad, vocab_size))


def convert_one_hot(corpus, vocab_size):
    '''One-hot rows (int32) of a 1-D or 2-D array of word ids: shape
    corpus.shape + (vocab_size,).'''
    corpus = _id_array("corpus", corpus)
    if corpus.ndim not in (1, 2):
        raise ValueError("corpus must be 1-D or 2-D, got %d-D" % corpus.ndim)
    _check_vocab("corpus", corpus, vocab_size)
    one_hot = np.zeros(corpus.shape + (vocab_size,), dtype=np.int32)
    np.put_along_axis(one_hot, corpus[..., None].astype(np.intp), 1, axis=-1)
    return one_hot


def create_co_matrix(corpus, vocab_size, window_size=1):
    '''The co-occurrence matrix (int32, vocab_size x vocab_size) of a corpus
    of word ids: the words up to ``window_size`` to the left and right of
    each word are its context.'''
    corpus = _id_array("corpus", corpus)
    if corpus.ndim != 1:
        raise ValueError("corpus must be a 1-D array of word ids, got %d-D" % corpus.ndim)
    vocab_size = int(vocab_size)
    if vocab_size < 0:
        raise ValueError("vocab_size must be >= 0, got %d" % vocab_size)
    _check_vocab("corpus", corpus, vocab_size)
    return _ops().co_matrix(corpus, vocab_size, int(window_size))


def ppmi(C, verbose=False, eps=1e-8):
    '''Positive pointwise mutual information of a co-occurrence matrix (float32).

    :param C: the co-occurrence matrix
    :param verbose: print the book's progress lines ('12.0% done')
    '''
    C = np.asarray(C)
    if C.ndim != 2:
        raise ValueError("C must be a 2-D co-occurrence matrix, got %d-D" % C.ndim)
    if C.dtype.kind not in "iuf":
        raise TypeError("C must hold numbers, got dtype %s" % C.dtype)
    return _ops().ppmi(C, verbose, eps)


def create_contexts_target(corpus, window_size=1):
    '''Contexts (the ``window_size`` words either side of each word) and targets.'''
    corpus = np.asarray(corpus)
    target = corpus[window_size:-window_size]
    n = len(corpus) - 2 * window_size
    offsets = [t for t in range(-window_size, window_size + 1) if t != 0]
    if n <= 0 or not offsets:
        # The book's np.array of an empty list (or of empty rows).
        contexts = np.array([[] for _ in range(max(n, 0))])
        return contexts, np.array(target)
    contexts = np.stack([corpus[window_size + t:window_size + t + n] for t in offsets],
                        axis=1)
    return contexts, np.array(target)


def to_cpu(x):
    '''``x`` itself: fastnn's arrays are NumPy's.'''
    if type(x) is np.ndarray:
        return x
    return np.asarray(x)


def to_gpu(x):
    '''fastnn runs on the CPU: raises GPUNotSupportedError.'''
    raise GPUNotSupportedError(_MESSAGE)


def clip_grads(grads, max_norm):
    '''Scale the gradients in place so their global L2 norm is at most
    ``max_norm`` (the book's ``max_norm / (norm + 1e-6)`` when that is < 1).
    Embedding gradients fastnn keeps read-only between steps
    (fastnn.nlp._grad_rows) are scaled too: a scale keeps their zero rows zero.'''
    from ._grad_rows import unlocked
    if isinstance(grads, (list, tuple)):
        # A negative (or -0.0) max_norm scales by a negative rate: the zero
        # rows turn -0.0, which the next backward must zero: records dropped.
        try:
            keep = not np.signbit(max_norm)
        except (TypeError, ValueError):      # not a number: the ops' own error follows
            keep = False
        with unlocked(grads, keep=keep):
            _ops().clip_grads(grads, max_norm)
    else:
        _ops().clip_grads(grads, max_norm)


def _batches(corpus, batch_size, time_size, iters, jump):
    corpus_size = len(corpus)
    time_offset = iters * time_size
    offsets = time_offset + np.arange(batch_size) * jump
    pos = offsets[:, None] + np.arange(time_size)[None, :]
    xs = corpus[pos % corpus_size].astype(np.int32)
    ts = corpus[(pos + 1) % corpus_size].astype(np.int32)
    return xs, ts


def eval_perplexity(model, corpus, batch_size=10, time_size=35):
    print('evaluating perplexity ...')
    corpus = np.asarray(corpus)
    corpus_size = len(corpus)
    total_loss = 0
    max_iters = (corpus_size - 1) // (batch_size * time_size)
    jump = (corpus_size - 1) // batch_size

    for iters in range(max_iters):
        xs, ts = _batches(corpus, batch_size, time_size, iters, jump)
        try:
            loss = model.forward(xs, ts, train_flg=False)
        except TypeError:
            loss = model.forward(xs, ts)
        total_loss += loss

        sys.stdout.write('\r%d / %d' % (iters, max_iters))
        sys.stdout.flush()

    print('')
    ppl = np.exp(total_loss / max_iters)
    return ppl


def eval_seq2seq(model, question, correct, id_to_char,
                 verbose=False, is_reverse=False):
    correct = correct.flatten()
    start_id = correct[0]           # the separator at the head
    correct = correct[1:]
    guess = model.generate(question, start_id, len(correct))

    question = ''.join([id_to_char[int(c)] for c in question.flatten()])
    correct = ''.join([id_to_char[int(c)] for c in correct])
    guess = ''.join([id_to_char[int(c)] for c in guess])

    if verbose:
        if is_reverse:
            question = question[::-1]

        colors = {'ok': '\033[92m', 'fail': '\033[91m', 'close': '\033[0m'}
        print('Q', question)
        print('T', correct)

        is_windows = os.name == 'nt'
        if correct == guess:
            mark = 'O' if is_windows else colors['ok'] + '☑' + colors['close']
        else:
            mark = 'X' if is_windows else colors['fail'] + '☒' + colors['close']
        print(mark + ' ' + guess)
        print('---')

    return 1 if guess == correct else 0


def analogy(a, b, c, word_to_id, id_to_word, word_matrix, top=5, answer=None):
    for word in (a, b, c):
        if word not in word_to_id:
            print('%s is not found' % word)
            return

    print('\n[analogy] ' + a + ':' + b + ' = ' + c + ':?')
    a_vec, b_vec, c_vec = (word_matrix[word_to_id[a]], word_matrix[word_to_id[b]],
                           word_matrix[word_to_id[c]])
    query_vec = b_vec - a_vec + c_vec
    query_vec = normalize(query_vec)

    similarity = np.dot(word_matrix, query_vec)

    if answer is not None:
        print("==>" + answer + ":" + str(np.dot(word_matrix[word_to_id[answer]], query_vec)))

    count = 0
    for i in (-1 * similarity).argsort():
        if np.isnan(similarity[i]):
            continue
        if id_to_word[i] in (a, b, c):
            continue
        print(' {0}: {1}'.format(id_to_word[i], similarity[i]))

        count += 1
        if count >= top:
            return


def normalize(x):
    if x.ndim == 2:
        s = np.sqrt((x * x).sum(1))
        x /= s.reshape((s.shape[0], 1))
    elif x.ndim == 1:
        s = np.sqrt((x * x).sum())
        x /= s
    return x
