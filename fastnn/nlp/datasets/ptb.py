"""The Penn Treebank as the book's ``dataset/ptb.py`` gives it.

``load_data('train' | 'val' | 'valid' | 'test')`` returns ``(corpus,
word_to_id, id_to_word)``: the file's words with a ``<eos>`` at each line's
end (``<unk>`` kept as a word), their ids (int64) in a vocabulary built from
the training file in order of first appearance.

Where the files are: ``data_dir`` when given, else ``$FASTNN_DATA/ptb``,
``~/.fastnn/datasets/ptb`` (the first holding the file; see
:mod:`fastnn.datasets.locate`).  A missing file is downloaded from
``url_base`` (read when called) into the first writable one of those,
with the MNIST loader's limits (its size cap and margin, a per-read
timeout, a deadline for the whole file; checked against its MD5 where it
is known) and written atomically.  Offline, put ``ptb.train.txt`` (and the
others) in one of those folders, or pass ``data_dir``.

The book caches the parsed corpus as ``ptb.<split>.npy`` and the
vocabulary as ``ptb.vocab.pkl`` beside the files; so does this module, but
a cache is read only when it is newer than its text file, the ``.npy``
without pickle and the ``.pkl`` by the restricted unpickler
(:mod:`fastnn.nlp._safe_pickle`: dicts, str and int only), and both are
checked (ids within the vocabulary, the two dicts inverse to each other).
A damaged or stale cache is rebuilt.
"""
import http.client
import os

import numpy as np

from ..._fileio import atomic_write
from ...datasets import download as _dl
from ...datasets import locate as _locate
from ...datasets.mnist import DatasetNotFoundError
from .. import _safe_pickle

__all__ = ["load_data", "load_vocab", "url_base", "key_file", "save_file", "vocab_file",
           "MD5", "SIZES", "DatasetNotFoundError", "dataset_dir"]

NAME = "ptb"

#: Where missing files are downloaded from (the book's mirror), read at call time.
url_base = 'https://raw.githubusercontent.com/tomsercu/lstm/master/data/'
key_file = {
    'train': 'ptb.train.txt',
    'test': 'ptb.test.txt',
    'valid': 'ptb.valid.txt'
}
save_file = {
    'train': 'ptb.train.npy',
    'test': 'ptb.test.npy',
    'valid': 'ptb.valid.npy'
}
vocab_file = 'ptb.vocab.pkl'

#: MD5 of the files the mirror serves, where known (a download that does not
#: match is refused).
MD5 = {
    'ptb.valid.txt': 'aa0affc06ff7c36e977d7cd49e3839bf',
    'ptb.test.txt': '8b80168b89c18661a38ef683c0dc3721',
}
#: Their sizes in bytes: a download stops past size + the MNIST loader's margin.
SIZES = {
    'ptb.train.txt': 5101618,
    'ptb.valid.txt': 399782,
    'ptb.test.txt': 449945,
}


def dataset_dir(data_dir=None):
    """The first writable data folder for PTB (downloads and caches go there)."""
    return _locate.first_writable_dir(NAME, data_dir)


def _size_limit(file_name):
    size = SIZES.get(file_name)
    if size is None:
        return _dl.MAX_DOWNLOAD_BYTES
    fraction, constant = _dl.SIZE_MARGIN
    return int(size * (1 + fraction)) + constant


def _find(file_name, data_dir):
    for folder in _locate.search_dirs(NAME, data_dir):
        path = os.path.join(folder, file_name)
        if os.path.isfile(path):
            return path
    return None


def _download(file_name, data_dir, quiet=False):
    """The path of ``file_name``: found, or downloaded (checked, atomically)."""
    path = _find(file_name, data_dir)
    if path is not None:
        return path
    failures = []
    target = _locate.first_writable_dir(NAME, data_dir, failures)
    if target is not None:
        dest = os.path.join(target, file_name)
        url = url_base.rstrip('/') + '/' + file_name
        want = MD5.get(file_name)
        digest = {}

        def verify(tmp):
            if want is not None and digest["md5"] != want:
                raise ValueError("checksum mismatch: md5 %s, expected %s"
                                 % (digest["md5"], want))
        try:
            with atomic_write(dest, "wb", verify=verify) as out:
                digest["md5"] = _dl._stream(url, out, file_name, quiet, _size_limit(file_name))
            return dest
        except (OSError, ValueError, http.client.HTTPException) as exc:
            failures.append("%s: %s" % (url, exc))
    raise DatasetNotFoundError(
        "PTB's %s is not in %s and could not be downloaded (%s); put the file in one "
        "of those folders or pass data_dir" % (
            file_name, ", ".join(_locate.search_dirs(NAME, data_dir)), "; ".join(failures)))


def _words(path):
    with open(path, encoding="utf-8") as fh:
        return fh.read().replace('\n', '<eos>').strip().split()


def _fresh(cache, source):
    """A cache file newer than (or as new as) its source."""
    try:
        return os.path.getmtime(cache) >= os.path.getmtime(source)
    except OSError:
        return False


def _valid_vocab(obj):
    if not (isinstance(obj, tuple) and len(obj) == 2
            and all(isinstance(d, dict) for d in obj)):
        return None
    word_to_id, id_to_word = obj
    if len(word_to_id) != len(id_to_word):
        return None
    for word, i in word_to_id.items():
        if not (isinstance(word, str) and type(i) is int and id_to_word.get(i) == word):
            return None
    return word_to_id, id_to_word


def _write_cache(path, write):
    try:
        with atomic_write(path, "wb") as fh:
            write(fh)
    except OSError:      # a cache only: failing to write it costs nothing else
        pass


def load_vocab(data_dir=None):
    """``(word_to_id, id_to_word)`` of the training file."""
    import pickle
    train = _download(key_file['train'], data_dir)
    cache = os.path.join(os.path.dirname(train), vocab_file)
    if os.path.isfile(cache) and _fresh(cache, train):
        try:
            vocab = _valid_vocab(_safe_pickle.load(cache))
        except (ValueError, OSError):
            vocab = None
        if vocab is not None:
            return vocab

    word_to_id = {}
    id_to_word = {}
    for word in _words(train):
        if word not in word_to_id:
            new_id = len(word_to_id)
            word_to_id[word] = new_id
            id_to_word[new_id] = word
    _write_cache(cache, lambda fh: pickle.dump((word_to_id, id_to_word), fh, protocol=3))
    return word_to_id, id_to_word


def load_data(data_type='train', data_dir=None):
    '''
    :param data_type: 'train', 'test' or 'valid' ('val')
    :return: corpus (int64 word ids), word_to_id, id_to_word
    '''
    if data_type == 'val':
        data_type = 'valid'
    if data_type not in key_file:
        raise ValueError("data_type must be 'train', 'val', 'valid' or 'test', got %r"
                         % (data_type,))
    word_to_id, id_to_word = load_vocab(data_dir)
    text = _download(key_file[data_type], data_dir)
    cache = os.path.join(os.path.dirname(text), save_file[data_type])
    vocab_cache = os.path.join(os.path.dirname(text), vocab_file)
    if os.path.isfile(cache) and _fresh(cache, text) and _fresh(cache, vocab_cache):
        try:
            corpus = np.load(cache, allow_pickle=False)
            if (corpus.ndim == 1 and corpus.dtype.kind in "iu"
                    and (corpus.size == 0 or (corpus.min() >= 0
                                              and corpus.max() < len(word_to_id)))):
                return corpus, word_to_id, id_to_word
        except (ValueError, OSError, EOFError):
            pass

    ids = []
    for w in _words(text):
        i = word_to_id.get(w)
        if i is None:
            raise ValueError("%s has the word %r, which the training file (the "
                             "vocabulary) does not have" % (text, w))
        ids.append(i)
    corpus = np.array(ids, dtype=np.int64)
    _write_cache(cache, lambda fh: np.save(fh, corpus, allow_pickle=False))
    return corpus, word_to_id, id_to_word
