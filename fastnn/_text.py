"""Wording shared by the commands' output."""


def plural(n, word, words=None):
    """'1 epoch', '2 epochs': ``n`` and ``word``, or ``words`` (default ``word + 's'``)
    when ``n`` is not 1."""
    return "%d %s" % (n, word if n == 1 else (words or word + "s"))
