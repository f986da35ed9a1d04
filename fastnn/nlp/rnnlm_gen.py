"""The sequel's ch07 ``RnnlmGen`` and ``BetterRnnlmGen`` (``from rnnlm_gen
import RnnlmGen`` becomes ``from fastnn.nlp.rnnlm_gen import RnnlmGen``):
the ch06 models that sample text one word at a time, drawing each word
with ``np.random.choice`` as the book does (a seeded run samples the
book's words).  The book's ``int(x)`` of a one-element array, which
NumPy 2 refuses, reads the element instead."""
import numpy as np

from .functions import softmax
from .rnnlm import Rnnlm
from .better_rnnlm import BetterRnnlm


def _sample(model, start_id, skip_ids, sample_size, scores):
    word_ids = [start_id]
    x = start_id
    while len(word_ids) < sample_size:
        x = np.array(x).reshape(1, 1)
        p = softmax(scores(x))
        sampled = np.random.choice(len(p), size=1, p=p)
        if (skip_ids is None) or (sampled not in skip_ids):
            x = sampled
            word_ids.append(int(x[0]))
    return word_ids


class RnnlmGen(Rnnlm):
    def generate(self, start_id, skip_ids=None, sample_size=100):
        return _sample(self, start_id, skip_ids, sample_size,
                       lambda x: self.predict(x).flatten())

    def get_state(self):
        return self.lstm_layer.h, self.lstm_layer.c

    def set_state(self, state):
        self.lstm_layer.set_state(*state)


class BetterRnnlmGen(BetterRnnlm):
    def generate(self, start_id, skip_ids=None, sample_size=100):
        return _sample(self, start_id, skip_ids, sample_size,
                       lambda x: self.predict(x).flatten())

    def get_state(self):
        return [(layer.h, layer.c) for layer in self.lstm_layers]

    def set_state(self, states):
        for layer, state in zip(self.lstm_layers, states):
            layer.set_state(*state)
