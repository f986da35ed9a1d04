"""MNIST and Fashion-MNIST loaders with the API of the book's ``dataset.mnist``.

``load_mnist``, ``load_fashion_mnist`` and ``load_sample`` all return
``(x_train, t_train), (x_test, t_test)``; ``load_sample`` reads a small
Fashion-MNIST subset shipped with the package, so it works offline.
Modules by job: :mod:`.locate` (where files are looked for), :mod:`.download`,
:mod:`.cache`, :mod:`.idx` (the file format) and :mod:`.mnist` (the loaders).
"""

from .idx import read_idx, write_idx
from .mnist import (
    DatasetNotFoundError,
    init_mnist,
    load_dataset,
    load_fashion_mnist,
    load_mnist,
    load_sample,
)

__all__ = [
    "load_mnist",
    "load_fashion_mnist",
    "load_sample",
    "load_dataset",
    "init_mnist",
    "DatasetNotFoundError",
    "read_idx",
    "write_idx",
]
