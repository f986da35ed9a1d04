"""The book's ``common/trainer.py``: mini-batch training with per-epoch accuracy.

With only the book's arguments, :class:`Trainer` behaves exactly as the
book's (the same ``np.random`` draws, prints and three lists).  Keyword-only
options add what users of Keras or scikit-learn expect: a progress bar, a
:class:`History` returned by ``train()``, a validation split, callbacks
(early stopping, learning-rate cuts, checkpoints, CSV logs), epoch-wise
sampling without replacement, data augmentation, learning-rate schedules
and exact resumption.

One module per job: :mod:`.core` (the Trainer), :mod:`.loop` (the one
training step, optimizer factory, evaluation), :mod:`.history`,
:mod:`.schedules`, :mod:`.augment`, :mod:`.callbacks`, :mod:`.progress`.
"""
import numpy as np

from .augment import Augmentation, augment_images
from .callbacks import (Callback, CSVLogger, EarlyStopping, ModelCheckpoint,
                        ReduceLROnPlateau)
from .core import Trainer
from .history import History
from .loop import evaluate, fit, make_optimizer, random_batches, train_step
from .progress import StepProgress
from .schedules import ExponentialDecay, InverseTimeDecay, StepDecay

__all__ = ["np", "Trainer", "make_optimizer", "History", "Augmentation",
           "StepDecay", "ExponentialDecay", "InverseTimeDecay", "augment_images",
           "Callback", "EarlyStopping", "ReduceLROnPlateau", "ModelCheckpoint", "CSVLogger",
           "StepProgress",
           "train_step", "fit", "random_batches", "evaluate"]
