"""The sequel's ``skip_gram.py``: ``SkipGram``
(see :mod:`fastnn.nlp._word2vec_models`)."""
from ._word2vec_models import SkipGram
from .np import *  # noqa: F401,F403

__all__ = ["SkipGram"]
