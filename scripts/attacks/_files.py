"""Hostile paths made in a case's temporary directory: a FIFO, device nodes
(``os.mknod``, as root), a directory, symlinks, garbage, a checkpoint and
damaged copies of it.  ``{name}`` in a command line is replaced by the path."""
import os
import stat

import numpy as np

UNWRITABLE = "/proc/fastnn-attack/sub"     # no one can create this, root included


def checkpoint(path, optimizer="Adam", steps=2, input_size=784, **net_kw):
    """Save a small trained MultiLayerNetExtend (and optimizer) at ``path``."""
    from fastnn.multi_layer_net_extend import MultiLayerNetExtend
    from fastnn import optimizer as optim
    from fastnn.serialization import save_network
    np.random.seed(0)
    kw = dict(use_batchnorm=True)
    kw.update(net_kw)
    net = MultiLayerNetExtend(input_size, [20, 20], 10, **kw)
    opt = getattr(optim, optimizer)()
    r = np.random.default_rng(0)
    for _ in range(steps):
        x, t = r.random((16, input_size)), r.integers(0, 10, 16)
        opt.update(net.params, net.gradient(x, t))
    save_network(path, net, opt)
    return net, opt


def _device(path, minor):
    try:
        os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, minor))
        return path
    except (PermissionError, AttributeError, OSError):
        return {3: "/dev/null", 5: "/dev/zero", 7: "/dev/full"}[minor]


MAKERS = {
    "fifo": lambda p: (os.mkfifo(p), p)[1],
    "devnull": lambda p: _device(p, 3),
    "devzero": lambda p: _device(p, 5),
    "devfull": lambda p: _device(p, 7),
    "dir": lambda p: (os.mkdir(p), p)[1],
    "empty": lambda p: (open(p, "wb").close(), p)[1],
    "garbage": lambda p: (_write(p, np.random.default_rng(1).bytes(5000)), p)[1],
    "text": lambda p: (_write(p, b'{"format": "fastnn-network"}\n'), p)[1],
    "zipgarbage": lambda p: (_write(p, b"PK\x03\x04" + b"\0" * 200), p)[1],
}


def _write(path, data):
    with open(path, "wb") as fh:
        fh.write(data)


class Paths:
    """Paths made on first use: ``paths['fifo']``, ``paths['ckpt']``, ... ."""

    def __init__(self, tmp):
        self.tmp = tmp
        self.made = {}

    def __getitem__(self, name):
        if name not in self.made:
            self.made[name] = self._make(name)
        return self.made[name]

    def _make(self, name):
        p = os.path.join(self.tmp, "fx-" + name)
        if name in MAKERS:
            return MAKERS[name](p)
        if name == "ckpt":
            checkpoint(p + ".npz")
            return p + ".npz"
        if name == "ckpt-30-inputs":
            checkpoint(p + ".npz", input_size=30)
            return p + ".npz"
        if name == "truncated":
            data = open(self["ckpt"], "rb").read()
            _write(p + ".npz", data[:len(data) // 2])
            return p + ".npz"
        if name == "link-devnull":
            os.symlink(self["devnull"], p)
            return p
        if name == "link-fifo":
            os.symlink(self["fifo"], p)
            return p
        if name == "link-dangling":
            os.symlink(os.path.join(self.tmp, "nowhere", "x"), p)
            return p
        if name == "link-loop":
            os.symlink(p, p)
            return p
        if name == "under-file":
            return os.path.join(self["garbage"], "x.npz")
        if name == "unwritable":
            return os.path.join(UNWRITABLE, "x.npz")
        if name == "long":
            return os.path.join(self.tmp, "a" * 300, "b" * 300 + ".npz")
        if name == "new":
            return p + ".out"
        raise KeyError(name)

    def format(self, arg):
        """``arg`` with each ``{name}`` replaced by that path."""
        out, rest = "", arg
        while "{" in rest and "}" in rest:
            head, _, tail = rest.partition("{")
            name, _, rest = tail.partition("}")
            out += head + self[name]
        return out + rest
