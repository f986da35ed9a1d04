"""The sequel's ``ch07/peeky_seq2seq.py``: PeekyDecoder and PeekySeq2seq
(the encoder's h fed to the decoder's LSTM and Affine at every step)."""
from .seq2seq import Encoder, Seq2seq, _affine_weights, _collect, _lstm_weights
from .time_layers import *  # noqa: F401,F403
from .time_layers import TimeAffine, TimeEmbedding, TimeLSTM, TimeSoftmaxWithLoss
from .np import np

__all__ = ["PeekyDecoder", "PeekySeq2seq"]


class PeekyDecoder:
    """The Decoder with h concatenated before the LSTM's input and the
    Affine's input at every step."""

    def __init__(self, vocab_size, wordvec_size, hidden_size):
        V, D, H = vocab_size, wordvec_size, hidden_size
        embed_W, lstm_Wx, lstm_Wh, lstm_b = _lstm_weights(V, D, H, lstm_in=H + D)
        affine_W, affine_b = _affine_weights(H + H, V)
        self.embed = TimeEmbedding(embed_W)
        self.lstm = TimeLSTM(lstm_Wx, lstm_Wh, lstm_b, stateful=True)
        self.affine = TimeAffine(affine_W, affine_b)
        _collect(self, (self.embed, self.lstm, self.affine))
        self.cache = None

    def forward(self, xs, h):
        N, T = xs.shape
        N, H = h.shape
        self.lstm.set_state(h)
        out = self.embed.forward(xs)
        hs = np.repeat(h, T, axis=0).reshape(N, T, H)
        out = self.lstm.forward(np.concatenate((hs, out), axis=2))
        score = self.affine.forward(np.concatenate((hs, out), axis=2))
        self.cache = H
        return score

    def backward(self, dscore):
        H = self.cache
        dout = self.affine.backward(dscore)
        dout, dhs0 = dout[:, :, H:], dout[:, :, :H]
        dout = self.lstm.backward(dout)
        dembed, dhs1 = dout[:, :, H:], dout[:, :, :H]
        self.embed.backward(dembed)
        dhs = dhs0 + dhs1
        return self.lstm.dh + np.sum(dhs, axis=1)

    def generate(self, h, start_id, sample_size):
        sampled = []
        char_id = start_id
        self.lstm.set_state(h)
        peeky_h = h.reshape(1, 1, h.shape[1])
        for _ in range(sample_size):
            x = np.array([char_id]).reshape((1, 1))
            out = self.embed.forward(x)
            out = self.lstm.forward(np.concatenate((peeky_h, out), axis=2))
            score = self.affine.forward(np.concatenate((peeky_h, out), axis=2))
            char_id = np.argmax(score.flatten())
            sampled.append(char_id)
        return sampled


class PeekySeq2seq(Seq2seq):
    def __init__(self, vocab_size, wordvec_size, hidden_size):
        V, D, H = vocab_size, wordvec_size, hidden_size
        self.encoder = Encoder(V, D, H)
        self.decoder = PeekyDecoder(V, D, H)
        self.softmax = TimeSoftmaxWithLoss()
        self.params = self.encoder.params + self.decoder.params
        self.grads = self.encoder.grads + self.decoder.grads
