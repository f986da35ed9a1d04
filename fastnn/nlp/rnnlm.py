"""The sequel's ch06 ``Rnnlm`` (``from rnnlm import Rnnlm`` becomes ``from
fastnn.nlp.rnnlm import Rnnlm``): TimeEmbedding, a stateful TimeLSTM,
TimeAffine and TimeSoftmaxWithLoss; weights drawn in the book's order, so
the book's shipped ``Rnnlm.pkl`` loads into it (:class:`BaseModel`)."""
from .time_layers import *  # noqa: F401,F403
from .time_layers import (TimeAffine, TimeEmbedding, TimeLSTM, TimeSoftmaxWithLoss, np,
                          _is_method, _scores_loss_backward, _scores_loss_forward)
from .base_model import BaseModel


class Rnnlm(BaseModel):
    def __init__(self, vocab_size=10000, wordvec_size=100, hidden_size=100):
        V, D, H = vocab_size, wordvec_size, hidden_size
        rn = np.random.randn
        embed_W = (rn(V, D) / 100).astype('f')
        lstm_Wx = (rn(D, 4 * H) / np.sqrt(D)).astype('f')
        lstm_Wh = (rn(H, 4 * H) / np.sqrt(H)).astype('f')
        lstm_b = np.zeros(4 * H).astype('f')
        affine_W = (rn(H, V) / np.sqrt(H)).astype('f')
        affine_b = np.zeros(V).astype('f')

        self.layers = [TimeEmbedding(embed_W),
                       TimeLSTM(lstm_Wx, lstm_Wh, lstm_b, stateful=True),
                       TimeAffine(affine_W, affine_b)]
        self.loss_layer = TimeSoftmaxWithLoss()
        self.lstm_layer = self.layers[1]
        self.params, self.grads = [], []
        for layer in self.layers:
            self.params += layer.params
            self.grads += layer.grads

    def predict(self, xs):
        for layer in self.layers:
            xs = layer.forward(xs)
        return xs

    def forward(self, xs, ts):
        if not _is_method(self, "predict", Rnnlm.predict):     # a subclass's own predict
            return self.loss_layer.forward(self.predict(xs), ts)
        for layer in self.layers[:-1]:
            xs = layer.forward(xs)
        # the scores go only into the loss (time_layers._scores_loss_forward)
        return _scores_loss_forward(self.layers[-1], self.loss_layer, xs, ts)

    def backward(self, dout=1):
        dout = _scores_loss_backward(self.layers[-1], self.loss_layer, dout)
        for layer in reversed(self.layers[:-1]):
            dout = layer.backward(dout)
        return dout

    def reset_state(self):
        self.lstm_layer.reset_state()
