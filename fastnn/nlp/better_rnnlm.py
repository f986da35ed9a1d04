"""The sequel's ch06 ``BetterRnnlm`` (``from better_rnnlm import BetterRnnlm``
becomes ``from fastnn.nlp.better_rnnlm import BetterRnnlm``): two stateful
LSTM layers, dropout before and after each (the book's mask stream), and
the output layer tied to the embedding (``TimeAffine(embed_W.T, ...)``: one
array, which ``remove_duplicate`` finds).

The book's references: Zaremba et al., Recurrent Neural Network
Regularization (arXiv:1409.2329); Press & Wolf, Using the Output Embedding
to Improve Language Models (arXiv:1608.05859); Inan et al., Tying Word
Vectors and Word Classifiers (arXiv:1611.01462)."""
from .time_layers import *  # noqa: F401,F403
from .time_layers import (TimeAffine, TimeDropout, TimeEmbedding, TimeLSTM,
                          TimeSoftmaxWithLoss, np, _is_method, _scores_loss_backward,
                          _scores_loss_forward)
from .base_model import BaseModel


class BetterRnnlm(BaseModel):
    def __init__(self, vocab_size=10000, wordvec_size=650, hidden_size=650,
                 dropout_ratio=0.5):
        V, D, H = vocab_size, wordvec_size, hidden_size
        rn = np.random.randn
        embed_W = (rn(V, D) / 100).astype('f')
        lstm_Wx1 = (rn(D, 4 * H) / np.sqrt(D)).astype('f')
        lstm_Wh1 = (rn(H, 4 * H) / np.sqrt(H)).astype('f')
        lstm_b1 = np.zeros(4 * H).astype('f')
        lstm_Wx2 = (rn(H, 4 * H) / np.sqrt(H)).astype('f')
        lstm_Wh2 = (rn(H, 4 * H) / np.sqrt(H)).astype('f')
        lstm_b2 = np.zeros(4 * H).astype('f')
        affine_b = np.zeros(V).astype('f')

        self.layers = [TimeEmbedding(embed_W),
                       TimeDropout(dropout_ratio),
                       TimeLSTM(lstm_Wx1, lstm_Wh1, lstm_b1, stateful=True),
                       TimeDropout(dropout_ratio),
                       TimeLSTM(lstm_Wx2, lstm_Wh2, lstm_b2, stateful=True),
                       TimeDropout(dropout_ratio),
                       TimeAffine(embed_W.T, affine_b)]  # weight tying
        self.loss_layer = TimeSoftmaxWithLoss()
        self.lstm_layers = [self.layers[2], self.layers[4]]
        self.drop_layers = [self.layers[1], self.layers[3], self.layers[5]]
        self.params, self.grads = [], []
        for layer in self.layers:
            self.params += layer.params
            self.grads += layer.grads

    def predict(self, xs, train_flg=False):
        for layer in self.drop_layers:
            layer.train_flg = train_flg
        for layer in self.layers:
            xs = layer.forward(xs)
        return xs

    def forward(self, xs, ts, train_flg=True):
        if not _is_method(self, "predict", BetterRnnlm.predict):   # a subclass's own predict
            return self.loss_layer.forward(self.predict(xs, train_flg), ts)
        for layer in self.drop_layers:
            layer.train_flg = train_flg
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
        for layer in self.lstm_layers:
            layer.reset_state()
