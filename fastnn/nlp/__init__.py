"""The sequel's ``common/`` package ("Deep Learning from Scratch 2") on fastnn.

Module for module as the book's: changing ``from common.X import ...`` to
``from fastnn.nlp.X import ...`` (and ``from common import config`` to
``from fastnn.nlp import config``, ``from dataset import ptb`` to
``from fastnn.nlp.datasets import ptb``) is the whole migration.  Submodules
are imported on demand, as the book's are:

* ``config``, ``np``: ``GPU = False`` and NumPy; fastnn runs on the CPU, and
  ``config.GPU = True`` raises :class:`fastnn.nlp.config.GPUNotSupportedError`;
* ``functions``, ``layers`` (MatMul, Affine, Softmax, SoftmaxWithLoss,
  Sigmoid, SigmoidWithLoss, Dropout, Embedding), ``optimizer`` (list-based
  SGD, Momentum, Nesterov, AdaGrad, RMSprop, Adam), ``trainer`` (Trainer,
  RnnlmTrainer, remove_duplicate), ``util``, ``base_model`` (the book's
  pickle files, read without running code);
* ``two_layer_net`` (ch01's model), ``datasets.ptb`` (the book's loader).

The layers and util functions run on fastnn's ops (``fastnn.backends``):
compiled kernels where they pay (the embedding's scatter-add, ppmi,
create_co_matrix, clip_grads), the book's numbers throughout.
"""
