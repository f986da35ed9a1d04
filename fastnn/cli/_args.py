"""Argument types shared by every ``fastnn`` subcommand.

Each is an argparse ``type=``: it returns the parsed value or raises
``argparse.ArgumentTypeError``, which argparse turns into one line naming the
option and exit status 2.  A value that parses but is out of range is
refused here, before any work starts.
"""
import argparse
import math


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


def any_int(text):
    """Any integer (a seed)."""
    return _number(int, text)


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
