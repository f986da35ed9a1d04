#!/usr/bin/env python3
"""Build the Fashion-MNIST sample bundled in fastnn/datasets/data/.

Draws a class-balanced subset of the training and test sets with a fixed
seed and writes it as four gzipped IDX files (level 9, no time stamp), so
re-running the script on the same source gives byte-identical files.

    python scripts/make_sample.py [--source /usr/share/datasets/fashion-mnist]
                                  [--train 5000] [--test 1000] [--seed 20170825]

The default source is what Debian's ``dataset-fashion-mnist`` installs.
"""

import argparse
import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from fastnn.datasets.idx import IMAGES_MAGIC, LABELS_MAGIC, read_idx, write_idx  # noqa: E402

OUT_DIR = os.path.join(ROOT, "fastnn", "datasets", "data")
MAX_BYTES = 3 * 1024 * 1024


def pick(labels, count, rng):
    """Indices of ``count`` items, ``count // 10`` per class, in file order."""
    classes = np.unique(labels)
    per_class, rest = divmod(count, len(classes))
    if rest:
        raise SystemExit("count %d is not a multiple of %d classes" % (count, len(classes)))
    chosen = [rng.choice(np.flatnonzero(labels == c), per_class, replace=False)
              for c in classes]
    return np.sort(np.concatenate(chosen))


def find(source, base):
    for name in (base + ".gz", base):
        path = os.path.join(source, name)
        if os.path.isfile(path):
            return path
    raise SystemExit("%s(.gz) not found in %s" % (base, source))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", default="/usr/share/datasets/fashion-mnist")
    parser.add_argument("--train", type=int, default=5000)
    parser.add_argument("--test", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=20170825)
    parser.add_argument("--out", default=OUT_DIR)
    args = parser.parse_args()

    rng = np.random.default_rng(args.seed)
    os.makedirs(args.out, exist_ok=True)
    total = 0
    for split, count in (("train", args.train), ("t10k", args.test)):
        images = read_idx(find(args.source, split + "-images-idx3-ubyte"), IMAGES_MAGIC)
        labels = read_idx(find(args.source, split + "-labels-idx1-ubyte"), LABELS_MAGIC)
        idx = pick(labels, count, rng)
        for kind, data in (("images-idx3-ubyte", images), ("labels-idx1-ubyte", labels)):
            path = os.path.join(args.out, "%s-%s.gz" % (split, kind))
            write_idx(path, data[idx], compresslevel=9)
            size = os.path.getsize(path)
            total += size
            print("%-60s %9d bytes" % (os.path.relpath(path, ROOT), size))
        print("  %s: %d images, per class %s"
              % (split, len(idx), np.bincount(labels[idx]).tolist()))
    print("total %d bytes (%.2f MiB)" % (total, total / 2 ** 20))
    if total > MAX_BYTES:
        raise SystemExit("sample is larger than %d bytes; lower --train/--test" % MAX_BYTES)


if __name__ == "__main__":
    main()
