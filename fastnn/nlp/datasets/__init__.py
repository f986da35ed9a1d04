"""The sequel's ``dataset/`` loaders: :mod:`fastnn.nlp.datasets.ptb` and
:mod:`fastnn.nlp.datasets.sequence` (``from dataset import ptb`` becomes
``from fastnn.nlp.datasets import ptb``; likewise ``sequence``)."""
