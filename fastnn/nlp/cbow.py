"""The sequel's ``cbow.py``: ``CBOW``
(see :mod:`fastnn.nlp._word2vec_models`)."""
from ._word2vec_models import CBOW
from .np import *  # noqa: F401,F403

__all__ = ["CBOW"]
