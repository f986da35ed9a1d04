"""Alias of :mod:`fastnn.datasets` under the book's package name ``dataset``,
so ``from dataset.mnist import load_mnist`` becomes
``from fastnn.dataset.mnist import load_mnist``."""

from ..datasets import *  # noqa: F401,F403
from ..datasets import __all__  # noqa: F401
