"""The sequel's ``dataset/`` loaders: :mod:`fastnn.nlp.datasets.ptb`
(``from dataset import ptb`` becomes ``from fastnn.nlp.datasets import ptb``)."""
