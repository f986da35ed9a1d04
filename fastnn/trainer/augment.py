"""Random augmentation of image batches (shifts, flips, padded crops)."""
import math

import numpy as np

__all__ = ["augment_images", "Augmentation", "make_augment"]

def _image_shape(x, image_shape):
    if x.ndim == 4:
        return x.shape[1:]
    if image_shape is not None:
        return tuple(image_shape)
    side = int(round(math.sqrt(x.shape[1])))
    if x.ndim == 2 and side * side == x.shape[1]:
        return (1, side, side)
    raise ValueError("cannot infer the image shape of a batch of shape %s: pass image_shape"
                     % (x.shape,))


def augment_images(x, rng=np.random, *, image_shape=None, shift=0, hflip=False,
                   crop_padding=0):
    """A randomly augmented copy of the image batch ``x``.

    ``x`` is (N, C, H, W) or flattened (N, C·H·W) (square one-channel images
    are recognised, otherwise give ``image_shape=(C, H, W)``).  Per image:
    ``hflip`` mirrors it left-right with probability 1/2; ``shift=s`` moves
    it by a random whole number of pixels in [-s, s] along each axis,
    filling with zeros; ``crop_padding=p`` zero-pads each side by p and
    crops a random H×W window (both may be combined).  ``rng`` is a
    ``np.random.RandomState`` (or the ``np.random`` module).
    """
    shape = _image_shape(x, image_shape)
    c, h, w = shape
    n = x.shape[0]
    imgs = x.reshape(n, c, h, w)
    out = imgs.copy()
    if hflip:
        flip = rng.rand(n) < 0.5
        out[flip] = out[flip][..., ::-1]
    for pad in (shift, crop_padding):
        pad = int(pad)
        if pad <= 0:
            continue
        padded = np.zeros((n, c, h + 2 * pad, w + 2 * pad), dtype=out.dtype)
        padded[:, :, pad:pad + h, pad:pad + w] = out
        oy = rng.randint(0, 2 * pad + 1, size=n)
        ox = rng.randint(0, 2 * pad + 1, size=n)
        rows = oy[:, None] + np.arange(h)            # (n, h)
        cols = ox[:, None] + np.arange(w)            # (n, w)
        out = padded[np.arange(n)[:, None, None, None], np.arange(c)[None, :, None, None],
                     rows[:, None, :, None], cols[:, None, None, :]]
    return out.reshape(x.shape)


class Augmentation:
    """Random augmentation of image batches for :class:`Trainer` (``augment=``).

    ``Augmentation(shift=2, hflip=True, crop_padding=0, image_shape=None)``;
    see :func:`augment_images`.  A dict with these keys works too.
    """

    def __init__(self, shift=0, hflip=False, crop_padding=0, image_shape=None):
        if shift < 0 or crop_padding < 0:
            raise ValueError("shift and crop_padding must be >= 0")
        self.shift = int(shift)
        self.hflip = bool(hflip)
        self.crop_padding = int(crop_padding)
        self.image_shape = image_shape

    def __call__(self, x, rng=np.random):
        return augment_images(x, rng, image_shape=self.image_shape, shift=self.shift,
                              hflip=self.hflip, crop_padding=self.crop_padding)

    def __repr__(self):
        return ("Augmentation(shift=%r, hflip=%r, crop_padding=%r, image_shape=%r)"
                % (self.shift, self.hflip, self.crop_padding, self.image_shape))


def make_augment(spec):
    """An augmentation from None/False, a keyword dict or a callable(x, rng)."""
    if spec is None or spec is False:
        return None
    if isinstance(spec, dict):
        return Augmentation(**spec)
    if callable(spec):
        return spec
    raise ValueError("augment must be None, a dict, an Augmentation or a callable(x, rng), "
                     "got %r" % (spec,))
