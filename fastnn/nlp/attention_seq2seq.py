"""The sequel's ``ch08/attention_seq2seq.py``: AttentionEncoder,
AttentionDecoder and AttentionSeq2seq."""
from .attention_layer import TimeAttention
from .seq2seq import Encoder, Seq2seq, _affine_weights, _collect, _lstm_weights
from .time_layers import *  # noqa: F401,F403
from .time_layers import TimeAffine, TimeEmbedding, TimeLSTM, TimeSoftmaxWithLoss
from .np import np

__all__ = ["AttentionEncoder", "AttentionDecoder", "AttentionSeq2seq"]


class AttentionEncoder(Encoder):
    """The Encoder returning every hidden state (N, T, H)."""

    def forward(self, xs):
        return self.lstm.forward(self.embed.forward(xs))

    def backward(self, dhs):
        return self.embed.backward(self.lstm.backward(dhs))


class AttentionDecoder:
    """Embedding, stateful LSTM, TimeAttention over the encoder's states, and
    Affine over [context, hidden] at every step."""

    def __init__(self, vocab_size, wordvec_size, hidden_size):
        V, D, H = vocab_size, wordvec_size, hidden_size
        embed_W, lstm_Wx, lstm_Wh, lstm_b = _lstm_weights(V, D, H)
        affine_W, affine_b = _affine_weights(2 * H, V)
        self.embed = TimeEmbedding(embed_W)
        self.lstm = TimeLSTM(lstm_Wx, lstm_Wh, lstm_b, stateful=True)
        self.attention = TimeAttention()
        self.affine = TimeAffine(affine_W, affine_b)
        _collect(self, [self.embed, self.lstm, self.attention, self.affine])

    def forward(self, xs, enc_hs):
        self.lstm.set_state(enc_hs[:, -1])
        dec_hs = self.lstm.forward(self.embed.forward(xs))
        c = self.attention.forward(enc_hs, dec_hs)
        return self.affine.forward(np.concatenate((c, dec_hs), axis=2))

    def backward(self, dscore):
        dout = self.affine.backward(dscore)
        H = dout.shape[2] // 2
        dc, ddec_hs0 = dout[:, :, :H], dout[:, :, H:]
        denc_hs, ddec_hs1 = self.attention.backward(dc)
        dout = self.lstm.backward(ddec_hs0 + ddec_hs1)
        denc_hs[:, -1] += self.lstm.dh
        self.embed.backward(dout)
        return denc_hs

    def generate(self, enc_hs, start_id, sample_size):
        sampled = []
        sample_id = start_id
        self.lstm.set_state(enc_hs[:, -1])
        for _ in range(sample_size):
            x = np.array([sample_id]).reshape((1, 1))
            dec_hs = self.lstm.forward(self.embed.forward(x))
            c = self.attention.forward(enc_hs, dec_hs)
            score = self.affine.forward(np.concatenate((c, dec_hs), axis=2))
            sample_id = np.argmax(score.flatten())
            sampled.append(sample_id)
        return sampled


class AttentionSeq2seq(Seq2seq):
    def __init__(self, vocab_size, wordvec_size, hidden_size):
        args = vocab_size, wordvec_size, hidden_size
        self.encoder = AttentionEncoder(*args)
        self.decoder = AttentionDecoder(*args)
        self.softmax = TimeSoftmaxWithLoss()
        self.params = self.encoder.params + self.decoder.params
        self.grads = self.encoder.grads + self.decoder.grads
