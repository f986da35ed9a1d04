"""The sequel's ``ch07/seq2seq.py``: Encoder, Decoder and Seq2seq.

The book's classes, weights (drawn in the book's order, so a seeded model
is the book's), attributes and numbers; the layers are
:mod:`fastnn.nlp.time_layers`'.  The migration of ``from seq2seq import
Seq2seq`` is ``from fastnn.nlp.seq2seq import Seq2seq``.
"""
from .base_model import BaseModel
from .time_layers import *  # noqa: F401,F403  (the book's module star-imports them)
from .time_layers import TimeAffine, TimeEmbedding, TimeLSTM, TimeSoftmaxWithLoss
from .np import np

__all__ = ["Encoder", "Decoder", "Seq2seq"]


def _lstm_weights(V, D, H, lstm_in=None):
    """The embedding and LSTM weights of the book's encoders/decoders, drawn in
    its order (``lstm_in``: the LSTM's input width, D unless it is wider)."""
    rn = np.random.randn
    lstm_in = D if lstm_in is None else lstm_in
    embed_W = (rn(V, D) / 100).astype('f')
    lstm_Wx = (rn(lstm_in, 4 * H) / np.sqrt(lstm_in)).astype('f')
    lstm_Wh = (rn(H, 4 * H) / np.sqrt(H)).astype('f')
    lstm_b = np.zeros(4 * H).astype('f')
    return embed_W, lstm_Wx, lstm_Wh, lstm_b


def _affine_weights(fan_in, V):
    affine_W = (np.random.randn(fan_in, V) / np.sqrt(fan_in)).astype('f')
    affine_b = np.zeros(V).astype('f')
    return affine_W, affine_b


def _collect(owner, layers):
    owner.params, owner.grads = [], []
    for layer in layers:
        owner.params += layer.params
        owner.grads += layer.grads


class Encoder:
    """Embedding and LSTM over the question; ``forward`` returns the last
    hidden state (N, H)."""

    def __init__(self, vocab_size, wordvec_size, hidden_size):
        embed_W, lstm_Wx, lstm_Wh, lstm_b = _lstm_weights(vocab_size, wordvec_size, hidden_size)
        self.embed = TimeEmbedding(embed_W)
        self.lstm = TimeLSTM(lstm_Wx, lstm_Wh, lstm_b, stateful=False)
        self.params = self.embed.params + self.lstm.params
        self.grads = self.embed.grads + self.lstm.grads
        self.hs = None

    def forward(self, xs):
        hs = self.lstm.forward(self.embed.forward(xs))
        self.hs = hs
        return hs[:, -1, :]

    def backward(self, dh):
        dhs = np.zeros_like(self.hs)
        dhs[:, -1, :] = dh
        return self.embed.backward(self.lstm.backward(dhs))


class Decoder:
    """Embedding, a stateful LSTM started from the encoder's h, Affine to
    scores; ``generate`` decodes greedily."""

    def __init__(self, vocab_size, wordvec_size, hidden_size):
        embed_W, lstm_Wx, lstm_Wh, lstm_b = _lstm_weights(vocab_size, wordvec_size, hidden_size)
        affine_W, affine_b = _affine_weights(hidden_size, vocab_size)
        self.embed = TimeEmbedding(embed_W)
        self.lstm = TimeLSTM(lstm_Wx, lstm_Wh, lstm_b, stateful=True)
        self.affine = TimeAffine(affine_W, affine_b)
        _collect(self, (self.embed, self.lstm, self.affine))

    def forward(self, xs, h):
        self.lstm.set_state(h)
        return self.affine.forward(self.lstm.forward(self.embed.forward(xs)))

    def backward(self, dscore):
        dout = self.lstm.backward(self.affine.backward(dscore))
        self.embed.backward(dout)
        return self.lstm.dh

    def generate(self, h, start_id, sample_size):
        sampled = []
        sample_id = start_id
        self.lstm.set_state(h)
        for _ in range(sample_size):
            x = np.array(sample_id).reshape((1, 1))
            score = self.affine.forward(self.lstm.forward(self.embed.forward(x)))
            sample_id = np.argmax(score.flatten())
            sampled.append(int(sample_id))
        return sampled


class Seq2seq(BaseModel):
    """Encoder, Decoder and TimeSoftmaxWithLoss: the decoder reads the answer
    shifted right (``ts[:, :-1]``) and is scored on ``ts[:, 1:]``."""

    def __init__(self, vocab_size, wordvec_size, hidden_size):
        V, D, H = vocab_size, wordvec_size, hidden_size
        self.encoder = Encoder(V, D, H)
        self.decoder = Decoder(V, D, H)
        self.softmax = TimeSoftmaxWithLoss()
        self.params = self.encoder.params + self.decoder.params
        self.grads = self.encoder.grads + self.decoder.grads

    def forward(self, xs, ts):
        decoder_xs, decoder_ts = ts[:, :-1], ts[:, 1:]
        h = self.encoder.forward(xs)
        score = self.decoder.forward(decoder_xs, h)
        return self.softmax.forward(score, decoder_ts)

    def backward(self, dout=1):
        dout = self.softmax.backward(dout)
        dh = self.decoder.backward(dout)
        return self.encoder.backward(dh)

    def generate(self, xs, start_id, sample_size):
        h = self.encoder.forward(xs)
        return self.decoder.generate(h, start_id, sample_size)
