"""The sequel's ``simple_skip_gram.py``: ``SimpleSkipGram``
(see :mod:`fastnn.nlp._word2vec_models`)."""
from ._word2vec_models import SimpleSkipGram
from .np import *  # noqa: F401,F403

__all__ = ["SimpleSkipGram"]
