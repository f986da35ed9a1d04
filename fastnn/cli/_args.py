"""Argument types shared by every ``fastnn`` subcommand.

Each is an argparse ``type=``: it returns the parsed value or raises
``argparse.ArgumentTypeError``, which argparse turns into one line naming the
option and exit status 2.  A value that parses but is out of range is
refused here, before any work starts.  What needs several values or the
file system (a network too big for this machine's memory, an output folder
with a file in its place) is checked by the ``check_*`` functions at the end,
which raise :class:`UsageError` naming the option.
"""
import argparse
import math
import os


def _number(kind, text):
    try:
        value = kind(text)
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError(
            "expected %s, got %r" % ("an integer" if kind is int else "a number", text)) from None
    if kind is float and not math.isfinite(value):
        raise argparse.ArgumentTypeError("expected a finite number, got %r" % text)
    return value


def _checked(value, ok, what, shown=None):
    """``value`` if ``ok(value)``, else the error "must be WHAT, got SHOWN"
    (``shown`` defaults to the value; the float types show the text typed)."""
    if not ok(value):
        raise argparse.ArgumentTypeError(
            "must be %s, got %s" % (what, value if shown is None else shown))
    return value


def path(text):
    """A file or folder path: any text but the empty one (which would silently mean
    'none', or the current folder)."""
    if not text:
        raise argparse.ArgumentTypeError("expected a path, got ''")
    return text


def positive_int(text):
    """An integer >= 1."""
    return _checked(_number(int, text), lambda v: v >= 1, "a positive integer")


def nonnegative_int(text):
    """An integer >= 0."""
    return _checked(_number(int, text), lambda v: v >= 0, "an integer >= 0")


def fold_count(text):
    """An integer >= 2 (the folds of a cross-validation)."""
    return _checked(_number(int, text), lambda v: v >= 2, "an integer >= 2 (folds)")


def power_of_two(text):
    """A power of two (a mini-batch size): 1, 2, 4, ..."""
    return _checked(positive_int(text), lambda v: not v & (v - 1), "a power of two")


def int_range(low, high):
    """A ``type=`` accepting an integer from ``low`` to ``high``."""
    def parse(text):
        return _checked(_number(int, text), lambda v: low <= v <= high,
                        "an integer from %d to %d" % (low, high))
    parse.__name__ = "integer from %d to %d" % (low, high)
    return parse


def seed(text):
    """A seed of ``np.random``: an integer in [0, 2**32)."""
    return _checked(_number(int, text), lambda v: 0 <= v < 2 ** 32, "in [0, 2**32)")


def positive_float(text):
    """A finite number > 0."""
    return _checked(_number(float, text), lambda v: v > 0, "a number > 0", text)


def nonnegative_float(text):
    """A finite number >= 0."""
    return _checked(_number(float, text), lambda v: v >= 0, "a number >= 0", text)


def fraction(text):
    """A number in [0, 1) (a dropout ratio, a validation fraction, label smoothing)."""
    return _checked(_number(float, text), lambda v: 0 <= v < 1, "in [0, 1)", text)


def open_fraction(text):
    """A number in (0, 1) (a momentum or beta)."""
    return _checked(_number(float, text), lambda v: 0 < v < 1, "in (0, 1)", text)


# --init's names: the course's, and the book's aliases (weight_init_std='relu'/'sigmoid').
INIT_NAMES = {"he": "he", "relu": "he", "xavier": "xavier", "sigmoid": "xavier"}


def weight_init(text):
    """--init: 'he' (= 'relu'), 'xavier' (= 'sigmoid') or a fixed standard deviation
    S > 0 as 'std:S' (or S); returned as 'he', 'xavier' or 'std:S'."""
    value = str(text).strip().lower()
    if value in INIT_NAMES:
        return INIT_NAMES[value]
    try:
        std = positive_float(value[4:] if value.startswith("std:") else value)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            "expected he, xavier (or the book's relu, sigmoid) or a standard deviation "
            "std:S with S > 0, got %r" % text) from None
    return "std:%r" % std


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows each option's default in ``--help`` (except where it is None or a flag)."""

    def _get_help_string(self, action):
        # ``is``, not ``in``: a default of 0 or 0.0 equals False and must still show.
        if action.default is None or isinstance(action.default, bool) \
                or action.default is argparse.SUPPRESS:
            return action.help
        text = action.help or ""
        if "default" in text:
            return text
        if isinstance(action.default, (list, tuple)):   # nargs="+": as typed on the command line
            if not action.default:                      # a repeatable option, none by default
                return text
            return text + " (default: %s)" % " ".join(str(v) for v in action.default)
        return super()._get_help_string(action)


class UsageError(Exception):
    """Bad input found after parsing (a missing data set, options that do not go
    together).  :func:`fastnn.cli.main` prints it as argparse prints its own
    errors, ``fastnn <command>: error: <message>`` on one line, and exits 2."""


def choice_of(*names):
    """A ``type=`` accepting one of ``names`` (case-insensitive), returned in lower case."""
    def parse(text):
        value = str(text).lower()
        if value not in names:
            raise argparse.ArgumentTypeError("expected one of %s, got %r"
                                             % (", ".join(names), text))
        return value
    parse.__name__ = "one of " + "|".join(names)
    return parse


def given_options(parser, argv):
    """The ``dest`` names of the options typed in ``argv`` (not left at their defaults),
    found by parsing ``argv`` again with every default suppressed."""
    saved = [(action, action.default) for action in parser._actions]
    for action, _ in saved:
        action.default = argparse.SUPPRESS
    try:
        namespace, _ = parser.parse_known_args(list(argv))
    finally:
        for action, default in saved:
            action.default = default
    return set(vars(namespace))


def key_values(text):
    """'shift=2,hflip,crop=4' -> {'shift': '2', 'hflip': True, 'crop': '4'} (a bare key is True)."""
    out = {}
    for part in str(text).split(","):
        key, sep, value = part.strip().partition("=")
        if not key:
            raise argparse.ArgumentTypeError("expected key[=value],... , got %r" % text)
        out[key.strip().lower()] = value.strip() if sep else True
    return out


def thread_count(text):
    """A thread count for fastnn's pool: 1 to fastnn's cap (4 per CPU)."""
    from .._config import max_threads
    cap = max_threads()
    return _checked(_number(int, text), lambda v: 1 <= v <= cap,
                    "a whole number from 1 to %d (4 per CPU of this machine)" % cap)


def add_threads_option(parser):
    """``--threads N``: the size of fastnn's thread pool for this command."""
    parser.add_argument("--threads", type=thread_count, default=None, metavar="N",
                        help="threads for fastnn's kernels and GEMMs (default: "
                             "FASTNN_NUM_THREADS, else the CPUs this process may use)")

def physical_memory():
    """This machine's memory in bytes, or None where the system does not say."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def check_network_fits(option, hidden, fan_in=784, outputs=10, itemsize=8):
    """Refuse (:class:`UsageError` naming ``option``) hidden layer sizes whose weights,
    gradients and two optimizer moments (Adam's) need more than this machine's memory."""
    dims = [fan_in] + list(hidden) + [outputs]
    need = 4 * itemsize * sum(a * b for a, b in zip(dims, dims[1:]))
    have = physical_memory()
    if have is not None and need > have:
        sizes = ("%d hidden layers of %d units" % (len(hidden), hidden[0])
                 if len(hidden) > 1 and len(set(hidden)) == 1
                 else "hidden layers of %s units" % " ".join(str(h) for h in hidden))
        raise UsageError("argument %s: %s need about %.3g GiB for "
                         "their weights, gradients and optimizer state, more than this "
                         "machine's %.3g GiB of memory"
                         % (option, sizes, need / 2 ** 30, have / 2 ** 30))


def check_output_dir(option, path):
    """Refuse (:class:`UsageError` naming ``option``) an output folder that cannot be
    made because a file is in the way (``path`` itself or one of its parents)."""
    from ..search._storage import file_in_the_way
    blocked = file_in_the_way(path)
    if blocked is not None:
        raise UsageError("argument %s: %s is a file, expected a folder%s"
                         % (option, blocked, "" if os.path.abspath(path) == blocked
                            else " (in %s)" % path))
