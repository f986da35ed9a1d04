"""Alias of :mod:`fastnn.datasets.mnist` (the book's ``dataset/mnist.py``)."""

from ..datasets.mnist import *  # noqa: F401,F403
from ..datasets.mnist import __all__  # noqa: F401
