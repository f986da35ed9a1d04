"""The book's ``dataset/mnist.py``: its constants and functions over :mod:`fastnn.datasets`.

``load_mnist`` is :func:`fastnn.datasets.load_mnist` (it looks in
``dataset_dir`` among other places and tries every mirror).  The book's
module keeps its files next to its source and caches them as a pickle; here
``dataset_dir`` is the first writable data directory
(``$FASTNN_DATA/mnist`` or ``~/.fastnn/datasets/mnist``), and ``save_file``
is the ``.npz`` cache written there, read without pickle.  ``download_mnist``
and ``init_mnist`` read ``url_base`` and ``dataset_dir`` when called, as the
book's do, and check what they download (size, time, MD5).
"""
import os

from ..datasets import locate as _locate
from ..datasets import mnist as _mnist
from ..datasets.mnist import *  # noqa: F401,F403

__all__ = list(_mnist.__all__) + [
    "url_base", "key_file", "dataset_dir", "save_file", "train_num", "test_num",
    "img_dim", "img_size"]

#: Where ``download_mnist`` and ``init_mnist`` fetch from (the book's mirror).
url_base = 'https://ossci-datasets.s3.amazonaws.com/mnist/'

key_file = {
    'train_img': 'train-images-idx3-ubyte.gz',
    'train_label': 'train-labels-idx1-ubyte.gz',
    'test_img': 't10k-images-idx3-ubyte.gz',
    'test_label': 't10k-labels-idx1-ubyte.gz',
}

dataset_dir = _locate.writable_dirs("mnist", None)[0]
save_file = os.path.join(dataset_dir, "mnist-cache.npz")

train_num = 60000
test_num = 10000
img_dim = (1, 28, 28)
img_size = 784


def download_mnist(*, quiet=False):
    """Download the files missing from ``dataset_dir`` from ``url_base``."""
    _mnist.download_mnist(dataset_dir, quiet=quiet, mirrors=[url_base])


def init_mnist(*, quiet=False):
    """``download_mnist()``, then read the files once and write the cache."""
    download_mnist(quiet=quiet)
    _mnist.init_mnist(dataset_dir, quiet=quiet, mirrors=[url_base])
