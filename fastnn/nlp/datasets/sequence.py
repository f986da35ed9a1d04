"""The sequel's toy sequence data sets (chapters 7-8), as its
``dataset/sequence.py`` gives them: ``load_data(file_name, seed)`` and
``get_vocab()``.

The file format is the book's: one example a line, the question padded
with spaces, ``_``, the answer padded with spaces; every line of a file is
as long as the others.  ``load_data`` reads any such file as the book does
(the answer keeps its leading ``_``, the decoder's start symbol; the
character ids grow in order of first appearance, in a vocabulary kept
across calls as the book's module-level dicts; the rows are shuffled with
``np.random.seed(seed)`` and the last 10% held out).

The book ships ``addition.txt`` and ``date.txt``; fastnn writes its own,
in the same format, with :func:`make_addition` and :func:`make_date`
(fixed seeds): the first ``load_data('addition.txt')`` or
``load_data('date.txt')`` that finds no file writes it to the data folder
(``data_dir``, else ``$FASTNN_DATA/sequence``, else
``~/.fastnn/datasets/sequence``).  They are not the book's files: same
format and sizes, other examples (so its exact accuracies differ).  Any
other name, or the book's own files put in that folder, are read as they are.
"""
import calendar
import datetime
import os

import numpy as np

from ..._fileio import atomic_write
from ...datasets import locate as _locate

__all__ = ["load_data", "get_vocab", "make_addition", "make_date", "dataset_dir",
           "id_to_char", "char_to_id"]

NAME = "sequence"

#: The vocabulary of every file loaded so far (the book's module-level dicts).
id_to_char = {}
char_to_id = {}

#: A file larger than this is refused (the book's are 0.6 and 2 MB).
MAX_BYTES = 64 << 20


def _update_vocab(text):
    for char in text:
        if char not in char_to_id:
            new_id = len(char_to_id)
            char_to_id[char] = new_id
            id_to_char[new_id] = char


def get_vocab():
    """``(char_to_id, id_to_char)`` of everything loaded so far."""
    return char_to_id, id_to_char


# -- fastnn's own generators -------------------------------------------------------

def _random_number(rng, max_digits):
    digits = int(rng.integers(1, max_digits + 1))
    return int(rng.integers(0 if digits == 1 else 10 ** (digits - 1), 10 ** digits))


def make_addition(n=50000, seed=20181228, max_digits=3):
    """``n`` distinct questions ``a+b`` (a and b of 1 to ``max_digits``
    digits, each digit count equally likely) with their sums, as lines of
    the book's format: the question left-aligned in ``2·max_digits + 1``
    columns, ``_``, the sum in ``max_digits + 1``."""
    if max_digits < 1 or n < 1 or n > (10 ** max_digits) ** 2:
        raise ValueError("need 1 <= n <= %d distinct questions and max_digits >= 1, got "
                         "n=%r, max_digits=%r" % ((10 ** max_digits) ** 2, n, max_digits))
    rng = np.random.default_rng(seed)
    seen, lines = set(), []
    qw, aw = 2 * max_digits + 1, max_digits + 1
    while len(lines) < n:
        a, b = _random_number(rng, max_digits), _random_number(rng, max_digits)
        if (a, b) in seen:
            continue
        seen.add((a, b))
        lines.append("%-*s_%-*s\n" % (qw, "%d+%d" % (a, b), aw, a + b))
    return "".join(lines)


def _date_formats(d, rng):
    """Ways of writing the date d (the question side)."""
    month, month_abbr = calendar.month_name[d.month], calendar.month_abbr[d.month]
    return [
        "%s %d, %d" % (month, d.day, d.year),
        "%s %d, %d" % (month.lower(), d.day, d.year),
        "%s %d, %d" % (month.upper(), d.day, d.year),
        "%s %d, %d" % (month_abbr, d.day, d.year),
        "%d %s %d" % (d.day, month, d.year),
        "%d %s %d" % (d.day, month_abbr.upper(), d.year),
        "%d/%d/%02d" % (d.month, d.day, d.year % 100),
        "%d/%d/%d" % (d.month, d.day, d.year),
        "%02d.%02d.%d" % (d.day, d.month, d.year),
        "%s, %s %d, %d" % (calendar.day_name[d.weekday()], month, d.day, d.year),
        "%s, %d %s %d" % (calendar.day_abbr[d.weekday()].upper(), d.day, month_abbr, d.year),
        "%d-%s-%02d" % (d.day, month_abbr.lower(), d.year % 100),
    ]


def make_date(n=50000, seed=20181228, first=datetime.date(1970, 1, 1),
              last=datetime.date(2030, 12, 31)):
    """``n`` dates between ``first`` and ``last`` written in one of a dozen
    styles (``September 27, 1994``, ``9/27/94``, ``TUE, 27 SEP 1994``, ...),
    each with its ISO form ``1994-09-27``, as lines of the book's format:
    the question in 29 columns, ``_``, the answer in 10."""
    if n < 1:
        raise ValueError("n must be >= 1, got %r" % (n,))
    rng = np.random.default_rng(seed)
    span = (last - first).days + 1
    lines = []
    for _ in range(n):
        d = first + datetime.timedelta(days=int(rng.integers(0, span)))
        styles = _date_formats(d, rng)
        question = styles[int(rng.integers(0, len(styles)))]
        lines.append("%-29s_%s\n" % (question, d.isoformat()))
    return "".join(lines)


_GENERATORS = {"addition.txt": make_addition, "date.txt": make_date}


def dataset_dir(data_dir=None):
    """The first writable folder for the generated files."""
    return _locate.first_writable_dir(NAME, data_dir)


def _find(file_name, data_dir):
    for directory in _locate.search_dirs(NAME, data_dir):
        path = os.path.join(directory, file_name)
        if os.path.isfile(path):
            return path
    return None


def _read_lines(path):
    size = os.path.getsize(path)
    if size > MAX_BYTES:
        raise ValueError("%s is %d bytes, more than the %d a sequence file may have"
                         % (path, size, MAX_BYTES))
    with open(path, "r", encoding="utf-8", newline="\n") as fh:
        return fh.read(MAX_BYTES + 1).split("\n")


def load_data(file_name='addition.txt', seed=1984, data_dir=None):
    """``((x_train, t_train), (x_test, t_test))`` as the book's, or None
    (after the book's ``No file:`` line) when there is no such file and
    fastnn has no generator for it."""
    if not isinstance(file_name, str) or os.path.basename(file_name) != file_name \
            or file_name in ("", ".", ".."):
        raise ValueError("file_name must be a plain file name, got %r" % (file_name,))
    path = _find(file_name, data_dir)
    if path is None and file_name in _GENERATORS:
        directory = dataset_dir(data_dir)
        if directory is None:
            raise OSError("no writable data folder for %s (pass data_dir=)" % file_name)
        path = os.path.join(directory, file_name)
        with atomic_write(path, "w") as fh:
            fh.write(_GENERATORS[file_name]())
    if path is None:
        print('No file: %s' % file_name)
        return None

    questions, answers = [], []
    lines = _read_lines(path)
    if lines and lines[-1] == "":
        lines.pop()
    for number, line in enumerate(lines, 1):
        cut = line.find('_')
        if cut < 0:
            raise ValueError("%s line %d has no '_' between question and answer"
                             % (path, number))
        questions.append(line[:cut])
        answers.append(line[cut:])        # the book drops the line's '\n' here
    if not questions:
        raise ValueError("%s holds no examples" % path)
    qlen, alen = len(questions[0]), len(answers[0])
    for number, (q, a) in enumerate(zip(questions, answers), 1):
        if len(q) != qlen or len(a) != alen:
            raise ValueError("%s line %d is %d+%d characters, the first line %d+%d: every "
                             "line must be padded to one length" % (path, number, len(q),
                                                                    len(a), qlen, alen))
    for q, a in zip(questions, answers):
        _update_vocab(q)
        _update_vocab(a)

    x = np.array([[char_to_id[c] for c in q] for q in questions], dtype=int)
    t = np.array([[char_to_id[c] for c in a] for a in answers], dtype=int)

    indices = np.arange(len(x))
    if seed is not None:
        np.random.seed(seed)
    np.random.shuffle(indices)
    x, t = x[indices], t[indices]

    split_at = len(x) - len(x) // 10
    return (x[:split_at], t[:split_at]), (x[split_at:], t[split_at:])
