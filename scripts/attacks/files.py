"""files: checkpoints, saves, data set files and caches, all in the case's temp dir.

A damaged or tampered checkpoint must load completely or be refused with a
clear error, changing nothing; what loads must predict as the file says
(a change the zip's CRC should have caught is WRONG), with arrays of the
network's dtype.  Saves must write through symlinks and refuse devices,
FIFOs and directories without replacing them.  Data set files and caches
must be refused when tampered, with bounded memory.
"""
import gzip
import io
import json
import os
import socket
import struct
import zipfile

import numpy as np

from ._common import Registry, Wrong, child_env, compare, judge_refusal, one_line, run, run_python
from ._files import checkpoint

REGISTRY = Registry("files")
X = np.random.default_rng(123).random((8, 784))


# -- crafting archives ------------------------------------------------------------------

def members(path):
    with zipfile.ZipFile(path) as z:
        return [(info.filename, z.read(info)) for info in z.infolist()]


def write_members(path, items, compress=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path, "w", compress) as z:
        for name, data in items:
            z.writestr(name, data)


def npy(array):
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.asanyarray(array), allow_pickle=True)
    return buf.getvalue()


def raw_npy(header, payload=b"", version=(1, 0)):
    """A .npy member with the literal header dict text ``header``."""
    h = header.encode("latin1")
    head_len = 10 if version == (1, 0) else 12
    h += b" " * (64 - (head_len + len(h) + 1) % 64) + b"\n"
    size = struct.pack("<H" if version == (1, 0) else "<I", len(h))
    return b"\x93NUMPY" + bytes(version) + size + h + payload


def _meta(items):
    for name, data in items:
        if name == "__meta__.npy":
            return json.loads(str(np.load(io.BytesIO(data))))
    raise KeyError("__meta__")


def _replace(items, name, data):
    return [(n, data if n == name else d) for n, d in items]


def _with_meta(items, meta_text):
    return _replace(items, "__meta__.npy", npy(np.array(meta_text)))


# -- loading and judging --------------------------------------------------------------------

def _judge_load(path, original, changes_values=False):
    """Load ``path``; what loads must predict as ``original`` (unless the attack
    changed the values honestly) and hold arrays of the network's dtype."""
    from fastnn.serialization import load_checkpoint
    ckpt = load_checkpoint(path)
    net, opt = ckpt.network, ckpt.optimizer
    dtype = np.dtype(getattr(net, "dtype", np.float64))
    for key, value in net.params.items():
        if value.dtype != dtype:
            raise Wrong("loaded param %s has dtype %s, the network %s" % (key, value.dtype, dtype))
    for name in ("v", "h", "m"):
        store = getattr(opt, name, None) if opt is not None else None
        for key, value in (store or {}).items():
            if np.asarray(value).dtype != net.params[key].dtype:
                raise Wrong("loaded optimizer state %s[%s] has dtype %s, its parameter %s"
                            % (name, key, np.asarray(value).dtype, net.params[key].dtype))
    got = net.predict(X, train_flg=False)
    want = original.predict(X, train_flg=False)
    if not np.array_equal(got, want, equal_nan=True):
        if changes_values:
            return "loaded; predicts differently, as the file's new values say"
        raise Wrong("the damaged file loaded and predicts differently from the saved network")
    return "loaded; predicts as saved"


def _tamper_case(transform, changes_values=False, **ckpt_kw):
    """Save a checkpoint, rewrite its members with ``transform(items)``, load it."""
    def run(ctx):
        base = ctx.path("base.npz")
        net, _ = checkpoint(base, **ckpt_kw)
        items = transform(members(base))
        bad = ctx.path("bad.npz")
        if isinstance(items, bytes):
            with open(bad, "wb") as fh:
                fh.write(items)
        else:
            write_members(bad, items)
        return _judge_load(bad, net, changes_values)
    return run


def _bytes_case(transform):
    """Save a checkpoint and change its raw bytes with ``transform(data, rng)``."""
    def run(ctx):
        base = ctx.path("base.npz")
        net, _ = checkpoint(base)
        with open(base, "rb") as fh:
            data = fh.read()
        bad = ctx.path("bad.npz")
        with open(bad, "wb") as fh:
            fh.write(transform(bytearray(data), ctx.rng))
        return _judge_load(bad, net)
    return run


for _cut in (0, 1, 4, 30, 100, 0.25, 0.5, 0.9, -22, -1):
    def _truncate(data, rng, cut=_cut):
        n = int(len(data) * cut) if isinstance(cut, float) else (cut if cut >= 0
                                                                 else len(data) + cut)
        return bytes(data[:n])
    REGISTRY.add("checkpoint/truncated-at-%s" % _cut, _bytes_case(_truncate),
                 quick=_cut in (0.5, -1))


def _flip(count):
    def flip(data, rng):
        for pos in rng.integers(0, len(data), count):
            data[pos] ^= 1 << int(rng.integers(8))
        return bytes(data)
    return flip


for _i in range(24):
    REGISTRY.add("checkpoint/bit-flip-%02d" % _i, _bytes_case(_flip(1)), quick=_i < 3)
for _i in range(6):
    REGISTRY.add("checkpoint/bit-flips-x8-%02d" % _i, _bytes_case(_flip(8)))
REGISTRY.add("checkpoint/appended-garbage",
             _bytes_case(lambda d, rng: bytes(d) + rng.bytes(1000)))
REGISTRY.add("checkpoint/prepended-garbage",
             _bytes_case(lambda d, rng: rng.bytes(1000) + bytes(d)))
REGISTRY.add("checkpoint/all-zeros", _bytes_case(lambda d, rng: bytes(len(d))))


def _w1(items, header, payload=b""):
    return _replace(items, "param/W1.npy", raw_npy(header, payload))


HEADERS = {
    "huge-shape": "{'descr': '<f8', 'fortran_order': False, 'shape': (1099511627776,), }",
    "huge-2d-shape": "{'descr': '<f8', 'fortran_order': False, "
                     "'shape': (4611686018427387904, 4611686018427387904), }",
    "negative-shape": "{'descr': '<f8', 'fortran_order': False, 'shape': (-784, 20), }",
    "shape-not-tuple": "{'descr': '<f8', 'fortran_order': False, 'shape': 15680, }",
    "object-dtype": "{'descr': '|O', 'fortran_order': False, 'shape': (784, 20), }",
    "unicode-dtype": "{'descr': '<U100000', 'fortran_order': False, 'shape': (784, 20), }",
    "void-dtype": "{'descr': '|V8', 'fortran_order': False, 'shape': (784, 20), }",
    "structured-dtype": "{'descr': [('a', '<f8')], 'fortran_order': False, "
                        "'shape': (784, 20), }",
    "bad-python": "{'descr': __import__('os').getcwd(), 'fortran_order': False, "
                  "'shape': (784, 20), }",
    "not-a-dict": "[1, 2, 3]",
    "missing-keys": "{'descr': '<f8', }",
    "extra-keys": "{'descr': '<f8', 'fortran_order': False, 'shape': (784, 20), 'x': 1, }",
    "deep-nesting": "{'descr': '<f8', 'fortran_order': False, 'shape': %s(784, 20)%s, }"
                    % ("(" * 100, ")" * 100),
}
for _name, _header in HEADERS.items():
    REGISTRY.add("checkpoint/npy-header-%s" % _name,
                 _tamper_case(lambda items, h=_header: _w1(items, h, b"\0" * 125440),
                              changes_values=True),
                 quick=_name == "huge-shape")


def _w1_as(convert, changes_values=False):
    def transform(items):
        for name, data in items:
            if name == "param/W1.npy":
                w = np.load(io.BytesIO(data))
                return _replace(items, name, npy(convert(w)))
        raise KeyError("param/W1.npy")
    return _tamper_case(transform, changes_values)


for _name, _conv, _changes in (
        ("byteswapped", lambda w: w.astype(">f8"), False),
        ("fortran-order", np.asfortranarray, False),
        ("float32", lambda w: w.astype(np.float32), True),
        ("float16", lambda w: w.astype(np.float16), True),
        ("longdouble", lambda w: w.astype(np.longdouble), False),
        ("int64", lambda w: (w * 100).astype(np.int64), True),
        ("bool", lambda w: w > 0, True),
        ("complex", lambda w: w.astype(np.complex128), False),
        ("uint8", lambda w: (np.abs(w) * 100).astype(np.uint8), True),
        ("nan", lambda w: np.full_like(w, np.nan), True),
        ("transposed-shape", lambda w: np.ascontiguousarray(w.T), True),
        ("one-row-less", lambda w: w[:-1], True),
        ("0-d", lambda w: np.array(1.0), True),
        ("object", lambda w: w.astype(object), True),
        ("string", lambda w: w.astype("U20"), True)):
    REGISTRY.add("checkpoint/W1-%s" % _name, _w1_as(_conv, _changes),
                 quick=_name in ("byteswapped", "float16", "object"))


def _state_as(convert):
    def transform(items):
        name = "optim/m/W1.npy"
        m = np.load(io.BytesIO(dict(items)[name]))
        return _replace(items, name, npy(convert(m)))
    return _tamper_case(transform, changes_values=True)


for _name, _conv in (("int64", lambda m: (m * 1e6).astype(np.int64)), ("bool", lambda m: m > 0),
                     ("float16", lambda m: m.astype(np.float16)),
                     ("float32", lambda m: m.astype(np.float32)),
                     ("complex", lambda m: m.astype(np.complex128)),
                     ("byteswapped", lambda m: m.astype(">f8")),
                     ("wrong-shape", lambda m: m[:-1])):
    REGISTRY.add("checkpoint/optimizer-state-%s" % _name, _state_as(_conv),
                 quick=_name in ("int64", "float16"))


def _meta_case(change, quick=False, name=None):
    def transform(items):
        meta = _meta(items)
        result = change(meta)
        return _with_meta(items, result if isinstance(result, str) else json.dumps(meta))
    REGISTRY.add("checkpoint/meta-" + name, _tamper_case(transform, changes_values=True),
                 quick=quick)


def _set(path, value):
    def change(meta):
        node = meta
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
    return change


NET = ("network", "kwargs")
OPT = ("optimizer", "hyperparams")
META = [
    ("class-os-system", ("network", "class"), "os:system"),
    ("class-builtins-eval", ("network", "class"), "builtins:eval"),
    ("class-with-space", ("network", "class"),
     "fastnn.multi_layer_net_extend:MultiLayerNetExtend "),
    ("class-none", ("network", "class"), None),
    ("hidden-10**12", NET + ("hidden_size_list",), [10 ** 12, 20]),
    ("hidden-negative", NET + ("hidden_size_list",), [-20, 20]),
    ("hidden-float", NET + ("hidden_size_list",), [20.0, 20]),
    ("hidden-bool", NET + ("hidden_size_list",), [True, 20]),
    ("hidden-string", NET + ("hidden_size_list",), "20,20"),
    ("hidden-nested", NET + ("hidden_size_list",), [[20], 20]),
    ("hidden-1000-layers", NET + ("hidden_size_list",), [20] * 1000),
    ("input-size-zero", NET + ("input_size",), 0),
    ("input-size-string", NET + ("input_size",), "784"),
    ("input-size-huge", NET + ("input_size",), 10 ** 30),
    ("output-size-negative", NET + ("output_size",), -10),
    ("activation-tanh", NET + ("activation",), "tanh"),
    ("dtype-float16", NET + ("dtype",), "float16"),
    ("dtype-object", NET + ("dtype",), "object"),
    ("dtype-float32", NET + ("dtype",), "float32"),
    ("backend-foo", NET + ("backend",), "foo"),
    ("weight-decay-nan", NET + ("weight_decay_lambda",), float("nan")),
    ("weight-decay-negative", NET + ("weight_decay_lambda",), -1.0),
    ("dropout-ration-2", NET + ("dropout_ration",), 2.0),
    ("use-dropout-string", NET + ("use_dropout",), "yes"),
    ("label-smoothing-1", NET + ("label_smoothing",), 1.0),
    ("unknown-kwarg", NET + ("evil",), 1),
    ("optimizer-class-os", ("optimizer", "class"), "os:system"),
    ("optimizer-name-foo", ("optimizer", "name"), "Foo"),
    ("lr-nan", OPT + ("lr",), float("nan")),
    ("lr-negative", OPT + ("lr",), -1.0),
    ("lr-string", OPT + ("lr",), "0.1"),
    ("lr-inf", OPT + ("lr",), float("inf")),
    ("beta1-one", OPT + ("beta1",), 1.0),
    ("beta2-above-one", OPT + ("beta2",), 1.5),
    ("iter-negative", ("optimizer", "scalars", "iter"), -1),
    ("iter-float", ("optimizer", "scalars", "iter"), 1.5),
    ("iter-huge", ("optimizer", "scalars", "iter"), 2 ** 70),
    ("iter-string", ("optimizer", "scalars", "iter"), "2"),
    ("state-dicts-unknown", ("optimizer", "state_dicts"), ["v", "m", "__dict__"]),
    ("format-version-2", ("format_version",), 2),
    ("format-version-string", ("format_version",), "1"),
    ("format-other", ("format",), "other"),
    ("extra-list", ("extra",), [1, 2]),
    ("rng-damaged", ("rng",), {"kind": "MT19937", "pos": 700}),
]
for _name, _path, _value in META:
    _meta_case(_set(_path, _value), name=_name,
               quick=_name in ("hidden-10**12", "beta1-one", "class-os-system"))
_meta_case(lambda m: "[" * 100000 + "]" * 100000, name="deeply-nested-json")
_meta_case(lambda m: '{"format": "fastnn-network", "format_version": 1e400}', name="json-1e400")
_meta_case(lambda m: json.dumps(m).replace("0.001", "NaN"), name="json-NaN-token")
_meta_case(lambda m: json.dumps(m) + " " * 5_000_000, name="five-megabytes-of-spaces")
_meta_case(lambda m: "not json", name="not-json")
_meta_case(lambda m: "", name="empty")


def _extra_member(name, data):
    return _tamper_case(lambda items: items + [(name, data)], changes_values=True)


REGISTRY.add("checkpoint/extra-array", _extra_member("foo/bar.npy", npy(np.ones(3))))
REGISTRY.add("checkpoint/extra-param", _extra_member("param/W99.npy", npy(np.ones(3))))
REGISTRY.add("checkpoint/extra-not-npy", _extra_member("readme.txt", b"hello"))
REGISTRY.add("checkpoint/path-traversal-member",
             _extra_member("../../param/W1.npy", npy(np.ones(3))))
REGISTRY.add("checkpoint/duplicate-W1-member",
             _tamper_case(lambda items: items + [("param/W1.npy", npy(np.zeros((784, 20))))],
                          changes_values=True))
REGISTRY.add("checkpoint/missing-W1",
             _tamper_case(lambda items: [(n, d) for n, d in items if n != "param/W1.npy"]))
REGISTRY.add("checkpoint/missing-meta",
             _tamper_case(lambda items: [(n, d) for n, d in items if n != "__meta__.npy"]))
REGISTRY.add("checkpoint/meta-as-bytes",
             _tamper_case(lambda items: _replace(items, "__meta__.npy", npy(np.array(
                 json.dumps(_meta(items)).encode())))))


def _deflated(ctx):
    """Members compressed (np.savez_compressed writes them so): refused, so that no
    member can inflate beyond the file's size."""
    base = ctx.path("base.npz")
    net, _ = checkpoint(base)
    bad = ctx.path("bad.npz")
    write_members(bad, members(base), zipfile.ZIP_DEFLATED)
    return _judge_load(bad, net)


REGISTRY.add("checkpoint/deflated-members", _deflated, quick=True)


def _zip_bomb(ctx):
    """A member that claims a small size but inflates to 2 GB."""
    base = ctx.path("base.npz")
    net, _ = checkpoint(base)
    bad = ctx.path("bomb.npz")
    items = members(base)
    with zipfile.ZipFile(bad, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in items:
            if name == "param/W1.npy":
                with z.open(name, "w", force_zip64=True) as fh:
                    fh.write(data)
                    zeros = b"\0" * (1 << 22)
                    for _ in range(64):
                        fh.write(zeros)
            else:
                z.writestr(name, data)
    return _judge_load(bad, net)


REGISTRY.add("checkpoint/zip-bomb-member", _zip_bomb, timeout=60)


# -- odd paths for load_checkpoint -------------------------------------------------------

def _load_path(make):
    def run(ctx):
        from fastnn.serialization import load_checkpoint
        load_checkpoint(make(ctx))
        return "loaded"
    return run


def _mknod(ctx, minor):
    import stat
    p = ctx.path("dev%d" % minor)
    os.mknod(p, stat.S_IFCHR | 0o666, os.makedev(1, minor))
    return p


def _socket_path(ctx):
    p = ctx.path("sock")
    s = socket.socket(socket.AF_UNIX)
    s.bind(p)
    ctx.keep = s
    return p


def _symlink(ctx, target_maker):
    p = ctx.path("link.npz")
    os.symlink(target_maker(ctx), p)
    return p


PATHS = {
    "fifo": lambda ctx: (os.mkfifo(ctx.path("f")), ctx.path("f"))[1],
    "char-device-zero": lambda ctx: _mknod(ctx, 5),
    "char-device-null": lambda ctx: _mknod(ctx, 3),
    "dev-zero": lambda ctx: "/dev/zero",
    "dev-urandom": lambda ctx: "/dev/urandom",
    "proc-self-mem": lambda ctx: "/proc/self/mem",
    "proc-kcore": lambda ctx: "/proc/kcore",
    "directory": lambda ctx: ctx.tmp,
    "socket": _socket_path,
    "symlink-to-fifo": lambda ctx: _symlink(ctx, PATHS["fifo"]),
    "symlink-loop": lambda ctx: (os.symlink(ctx.path("l"), ctx.path("l")), ctx.path("l"))[1],
    "dangling-symlink": lambda ctx: _symlink(ctx, lambda c: c.path("nowhere")),
    "nul-byte": lambda ctx: ctx.path("a\0b.npz"),
    "very-long-name": lambda ctx: ctx.path("x" * 5000),
    "empty-string": lambda ctx: "",
    "bytes-path": lambda ctx: ctx.path("missing").encode(),
    "int-fd": lambda ctx: 0,
    "none": lambda ctx: None,
}
for _name, _make in PATHS.items():
    REGISTRY.add("load-path/%s" % _name, _load_path(_make),
                 quick=_name in ("fifo", "char-device-zero", "proc-self-mem"))


# -- saves ---------------------------------------------------------------------------------

def _net():
    from fastnn.multi_layer_net_extend import MultiLayerNetExtend
    np.random.seed(0)
    return MultiLayerNetExtend(784, [10], 10)


def _save_to(make, check=None):
    """save_network to a hostile path: refused (the thing at the path unchanged), or
    written where ``check(ctx, path)`` says."""
    def run(ctx):
        from fastnn.serialization import save_network
        path = make(ctx)
        try:
            before = os.lstat(path)
        except (OSError, ValueError, TypeError):
            before = None
        try:
            save_network(path, _net())
        except Exception as exc:
            if before is not None:
                after = os.lstat(path)
                if (after.st_mode, after.st_ino) != (before.st_mode, before.st_ino):
                    raise Wrong("a refused save replaced what was at the path") from exc
            _no_part_files(ctx.tmp)
            raise
        _no_part_files(ctx.tmp)
        if check is None:
            raise Wrong("saved over %s" % path)
        return check(ctx, path)
    return run


def _no_part_files(directory):
    left = [n for n in os.listdir(directory) if n.endswith(".part")
            and not n.startswith(".other")]
    if left:
        raise Wrong("a save left temporary files behind: %s" % ", ".join(left))


def _loads_back(ctx, path):
    from fastnn.serialization import load_network
    got = load_network(path).predict(X)
    compare(got, _net().predict(X), "reloaded save")
    return "saved and reloaded"


def _through_link(ctx, path):
    if not os.path.islink(path):
        raise Wrong("the symlink was replaced by a file")
    return _loads_back(ctx, os.path.realpath(path))


def _link_chain(ctx):
    target = ctx.path("target.npz")
    open(target, "wb").close()
    os.symlink(target, ctx.path("l1"))
    os.symlink(ctx.path("l1"), ctx.path("l2.npz"))
    return ctx.path("l2.npz")


def _with_other_part(ctx):
    """Another writer's temporary file of the same name sits in the folder."""
    path = ctx.path("model.npz")
    other = ctx.path(".other.model.npz.abcdefgh.part")
    with open(other, "wb") as fh:
        fh.write(b"another writer's data")
    ctx.other = other
    return path


def _other_part_kept(ctx, path):
    if not os.path.exists(ctx.other):
        raise Wrong("the save removed another writer's temporary file")
    return _loads_back(ctx, path)


SAVES = {
    "fifo": (PATHS["fifo"], None),
    "char-device-null": (lambda ctx: _mknod(ctx, 3), None),
    "char-device-full": (lambda ctx: _mknod(ctx, 7), None),
    "directory": (lambda ctx: ctx.tmp, None),
    "socket": (_socket_path, None),
    "symlink-to-fifo": (lambda ctx: _symlink(ctx, PATHS["fifo"]), None),
    "symlink-to-device": (lambda ctx: _symlink(ctx, lambda c: _mknod(c, 3)), None),
    "symlink-loop": (PATHS["symlink-loop"], None),
    "under-a-file": (lambda ctx: os.path.join(_file(ctx), "x.npz"), None),
    "unwritable-folder": (lambda ctx: "/proc/fastnn-attack/x.npz", None),
    "nul-byte": (PATHS["nul-byte"], None),
    "symlink-to-file": (lambda ctx: _symlink(ctx, _file), _through_link),
    "symlink-chain": (_link_chain, lambda ctx, p: _loads_back(ctx, os.path.realpath(p))),
    "dangling-symlink": (PATHS["dangling-symlink"],
                         lambda ctx, p: _loads_back(ctx, os.path.realpath(p))),
    "other-writers-part-file": (_with_other_part, _other_part_kept),
    "new-folders": (lambda ctx: ctx.path("a", "b", "c.npz"), _loads_back),
}


def _file(ctx):
    p = ctx.path("plain.npz")
    with open(p, "wb") as fh:
        fh.write(b"old contents")
    return p


for _name, (_make, _check) in SAVES.items():
    REGISTRY.add("save-path/%s" % _name, _save_to(_make, _check),
                 quick=_name in ("fifo", "char-device-null", "symlink-to-file"))


KILLED_SAVER = r"""
import sys, numpy as np
from fastnn.multi_layer_net_extend import MultiLayerNetExtend
from fastnn.serialization import save_network
np.random.seed(1)
net = MultiLayerNetExtend(784, [400, 400], 10)
print("ready", flush=True)
while True:
    save_network(sys.argv[1], net)
"""


def _killed_mid_save(ctx):
    """A process saving in a loop is killed with SIGKILL at random moments: the file
    at the path always loads, as the old network or the new one."""
    import signal
    import subprocess
    import sys
    import time
    from fastnn.serialization import load_network
    path = ctx.path("model.npz")
    checkpoint(path)
    kills = 3 if ctx.quick else 6
    for _ in range(kills):
        proc = subprocess.Popen([sys.executable, "-c", KILLED_SAVER, path],
                                stdout=subprocess.PIPE, env=child_env())
        proc.stdout.readline()
        time.sleep(float(ctx.rng.uniform(0.05, 0.4)))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        load_network(path)
    left = [n for n in os.listdir(ctx.tmp) if n.endswith(".part")]
    return "loads after %d kills; %d temporary file(s) left behind, as documented" % (
        kills, len(left))


REGISTRY.add("save-killed-mid-write", _killed_mid_save, timeout=120)


def _failed_save_keeps_old(extra):
    def run(ctx):
        from fastnn.serialization import save_network
        path = ctx.path("model.npz")
        with open(path, "wb") as fh:
            fh.write(b"old")
        try:
            save_network(path, _net(), extra=extra)
        except Exception:
            with open(path, "rb") as fh:
                if fh.read() != b"old":
                    raise Wrong("a failed save changed the old file") from None
            _no_part_files(ctx.tmp)
            raise
        _no_part_files(ctx.tmp)
        from fastnn.serialization import load_checkpoint
        got = load_checkpoint(path).extra
        return "saved; extra came back as %s" % one_line(repr(got), 80)
    return run


for _name, _extra in (("object", {"x": object()}), ("nan", {"x": float("nan")}),
                      ("bytes", {"x": b"raw"}), ("non-string-keys", {1: 2, (1, 2): 3}),
                      ("ndarray", {"x": np.arange(3)}), ("not-a-dict", [1, 2])):
    REGISTRY.add("save-extra/%s" % _name, _failed_save_keeps_old(_extra))


# -- callbacks that write during training ------------------------------------------------

def _callback_case(kind, where):
    """A Trainer whose callback writes to a hostile place: refused before the first
    epoch (or written), never found out after training."""
    def run(ctx):
        from fastnn.trainer import CSVLogger, ModelCheckpoint
        from ._files import Paths
        path = Paths(ctx.tmp)[where]
        tr = _trainer(epochs=2)
        if kind == "history_path":
            tr.history_path = path
        else:
            callback = (ModelCheckpoint(path) if kind == "ModelCheckpoint" else CSVLogger(path))
            tr.callbacks = list(getattr(tr, "callbacks", []) or []) + [callback]
            callback.set_trainer(tr)
        try:
            tr.train()
        except Exception as exc:
            done = getattr(tr, "current_epoch", 0)
            if done:
                raise Wrong("%s(%s) was refused after %s epoch(s) of training: %s: %s"
                            % (kind, where, done, type(exc).__name__, one_line(exc, 80))) \
                    from None
            raise
        return "trained and wrote"
    return run


for _kind in ("ModelCheckpoint", "CSVLogger", "history_path"):
    for _where in ("fifo", "devfull", "dir", "unwritable", "under-file", "new"):
        REGISTRY.add("callback/%s-to-%s" % (_kind, _where), _callback_case(_kind, _where),
                     quick=_where == "fifo" and _kind == "ModelCheckpoint")


# -- the Trainer's saved state, tampered ------------------------------------------------

def _trainer(seed=0, epochs=2):
    from fastnn.multi_layer_net_extend import MultiLayerNetExtend
    from fastnn.trainer import Trainer
    r = np.random.default_rng(seed)
    x, t = r.random((60, 30)), r.integers(0, 10, 60)
    np.random.seed(seed)
    net = MultiLayerNetExtend(30, [10], 10)
    return Trainer(net, x[:40], t[:40], x[40:], t[40:], epochs=epochs, mini_batch_size=10,
                   optimizer="adam", optimizer_param={"lr": 0.01}, verbose=False)


def _trainer_view(tr):
    """What a failed restore must leave as it was."""
    import copy
    state = {k: copy.deepcopy(v) for k, v in vars(tr).items()
             if isinstance(v, (int, float, str, bool, list, tuple, type(None)))}
    state["params"] = {k: np.array(v, copy=True) for k, v in tr.network.params.items()}
    state["np.random"] = np.random.get_state()[1].copy()
    return state


def _leaves(node, path=()):
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _leaves(v, path + (k,))
    elif isinstance(node, list) and node and not all(isinstance(v, (int, float)) for v in node):
        for i, v in enumerate(node):
            yield from _leaves(v, path + (i,))
    else:
        yield path, node


def _restore_case(index, value):
    def run(ctx):
        from fastnn.serialization import load_checkpoint
        tr = _trainer()
        tr.train()
        path = ctx.path("run.npz")
        tr.save_checkpoint(path)
        ckpt = load_checkpoint(path)
        leaves = list(_leaves(ckpt.extra["trainer"]))
        where, old = leaves[index % len(leaves)]
        node = ckpt.extra["trainer"]
        for key in where[:-1]:
            node = node[key]
        if where:
            node[where[-1]] = value
        fresh = _trainer(1, epochs=3)
        before = _trainer_view(fresh)
        try:
            fresh.restore(ckpt)
        except Exception:
            after = _trainer_view(fresh)
            try:
                compare(after, before, "trainer state after a refused restore")
            except Wrong as exc:
                raise Wrong("a refused restore (%s=%r) changed the trainer: %s"
                            % ("/".join(map(str, where)), value, exc)) from None
            raise
        change = "%s=%r (was %s)" % ("/".join(map(str, where)), value, one_line(repr(old), 40))
        try:
            fresh.train()
        except Exception as exc:
            raise Wrong("restore accepted %s, then training failed: %s: %s"
                        % (change, type(exc).__name__, one_line(exc, 100))) from None
        return "restored with %s, and trained on" % change
    return run


for _i in range(16):
    for _vname, _v in (("negative", -1), ("none", None), ("string", "x"), ("huge", 10 ** 30),
                       ("nan", float("nan")), ("list", [1, "a"])):
        REGISTRY.add("trainer-restore/leaf-%02d=%s" % (_i, _vname), _restore_case(_i, _v),
                     quick=_i == 0 and _vname in ("negative", "string"))


# -- data set files and caches ---------------------------------------------------------------

def idx_bytes(array, magic=None, dims=None):
    array = np.asarray(array, np.uint8)
    dims = array.shape if dims is None else dims
    magic = (0x0800 | len(dims)) if magic is None else magic
    return struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in dims) \
        + array.tobytes()


def _gz(data):
    return gzip.compress(data, mtime=0)


def make_dataset(directory, n_train=100, n_test=20, seed=0, changes=None):
    """Four MNIST-format files in ``directory``; ``changes`` {base: bytes} replaces some."""
    os.makedirs(directory, exist_ok=True)
    r = np.random.default_rng(seed)
    arrays = {"train-images-idx3-ubyte": r.integers(0, 256, (n_train, 28, 28)),
              "train-labels-idx1-ubyte": r.integers(0, 10, n_train),
              "t10k-images-idx3-ubyte": r.integers(0, 256, (n_test, 28, 28)),
              "t10k-labels-idx1-ubyte": r.integers(0, 10, n_test)}
    for base, array in arrays.items():
        data = (changes or {}).get(base)
        with open(os.path.join(directory, base + ".gz"), "wb") as fh:
            fh.write(_gz(idx_bytes(array)) if data is None else data)
    return arrays


def _load(directory):
    from fastnn.datasets import load_mnist
    return load_mnist(normalize=False, flatten=False, data_dir=directory, download=False,
                      quiet=True)


def _dataset_case(changes, expect_loaded=False):
    """Files with ``changes(arrays) -> {base: bytes}``: refused, or (``expect_loaded``)
    loaded with the files' values."""
    def run(ctx):
        d = ctx.path("mnist")
        arrays = make_dataset(d)
        make_dataset(d, changes=changes(arrays))
        (x, t), (xt, tt) = _load(d)
        if not expect_loaded:
            return "loaded %d + %d images" % (len(x), len(xt))
        compare(x.reshape(-1, 28, 28), arrays["train-images-idx3-ubyte"], "train images")
        compare(t, arrays["train-labels-idx1-ubyte"], "train labels")
        return "loaded as written"
    return run


def _labels(values):
    return lambda a: {"train-labels-idx1-ubyte": _gz(idx_bytes(values(a)))}


DATASETS = {
    "label-200": (_labels(lambda a: np.where(np.arange(100) == 5, 200,
                                             a["train-labels-idx1-ubyte"])), False),
    "label-count-mismatch": (_labels(lambda a: a["train-labels-idx1-ubyte"][:-1]), False),
    "images-29x28": (lambda a: {"train-images-idx3-ubyte": _gz(idx_bytes(
        np.zeros((100, 29, 28))))}, False),
    "images-count-over-max": (lambda a: {"train-images-idx3-ubyte": _gz(idx_bytes(
        np.zeros(0), dims=(60001, 28, 28)))}, False),
    "images-header-claims-more": (lambda a: {"train-images-idx3-ubyte": _gz(idx_bytes(
        a["train-images-idx3-ubyte"], dims=(200, 28, 28)))}, False),
    "images-trailing-data": (lambda a: {"train-images-idx3-ubyte": _gz(idx_bytes(
        a["train-images-idx3-ubyte"]) + b"\0" * 100)}, False),
    "wrong-magic": (lambda a: {"train-images-idx3-ubyte": _gz(idx_bytes(
        a["train-images-idx3-ubyte"], magic=0x0D03))}, False),
    "labels-as-images": (lambda a: {"train-labels-idx1-ubyte": _gz(idx_bytes(
        a["train-images-idx3-ubyte"]))}, False),
    "truncated-gzip": (lambda a: {"train-images-idx3-ubyte": _gz(idx_bytes(
        a["train-images-idx3-ubyte"]))[:500]}, False),
    "gzip-trailing-garbage": (lambda a: {"train-images-idx3-ubyte": _gz(idx_bytes(
        a["train-images-idx3-ubyte"])) + b"garbage"}, False),
    "two-gzip-members": (lambda a: {"train-images-idx3-ubyte": (
        lambda b: _gz(b[:1000]) + _gz(b[1000:]))(idx_bytes(a["train-images-idx3-ubyte"]))},
        True),
    "not-gzipped": (lambda a: {"train-images-idx3-ubyte": idx_bytes(
        a["train-images-idx3-ubyte"])}, True),
    "empty-file": (lambda a: {"train-images-idx3-ubyte": b""}, False),
    "header-only": (lambda a: {"train-images-idx3-ubyte": _gz(struct.pack(">I", 0x803))},
                    False),
    "ndim-255": (lambda a: {"train-images-idx3-ubyte": _gz(struct.pack(">I", 0x8FF)
                                                           + b"\0\0\0\1" * 255)}, False),
    "zero-images": (lambda a: {"train-images-idx3-ubyte": _gz(idx_bytes(np.zeros((0, 28, 28)))),
                               "train-labels-idx1-ubyte": _gz(idx_bytes(np.zeros(0)))}, False),
}
for _name, (_changes, _loaded) in DATASETS.items():
    REGISTRY.add("dataset/%s" % _name, _dataset_case(_changes, _loaded),
                 quick=_name in ("label-200", "images-trailing-data"))


def _special_file(kind):
    """One of the data files is a FIFO / directory / symlink loop: refused or
    looked for elsewhere, never a hang."""
    def run(ctx):
        d = ctx.path("mnist")
        make_dataset(d)
        target = os.path.join(d, "train-images-idx3-ubyte.gz")
        os.unlink(target)
        if kind == "fifo":
            os.mkfifo(target)
        elif kind == "directory":
            os.mkdir(target)
        elif kind == "symlink-loop":
            os.symlink(target, target)
        elif kind == "dev-zero":
            os.symlink("/dev/zero", target)
        _load(d)
        return "loaded"
    return run


for _kind in ("fifo", "directory", "symlink-loop", "dev-zero"):
    REGISTRY.add("dataset/train-images-is-%s" % _kind, _special_file(_kind),
                 quick=_kind == "fifo")


def _cache_case(tamper, expect_files=True):
    """Load once (writing the cache), tamper with the cache, load again in a
    new process: the files' data, never the tampered cache's."""
    def run(ctx):
        d = ctx.path("mnist")
        arrays = make_dataset(d)
        _load(d)
        cache = os.path.join(d, "mnist-cache.npz")
        if not os.path.exists(cache):
            return "no cache was written"
        tamper(cache)
        code = ("import sys, numpy as np\n"
                "from fastnn.datasets import load_mnist\n"
                "(x, t), _ = load_mnist(normalize=False, data_dir=sys.argv[1], download=False)\n"
                "np.save(sys.argv[2], t)\n")
        out = ctx.path("t.npy")
        import sys
        rc, _, err = _run_argv([sys.executable, "-c", code, d, out])
        if rc != 0:
            raise Wrong("loading beside a tampered cache failed: %s"
                        % one_line(err.strip().splitlines()[-1] if err.strip() else rc))
        compare(np.load(out), arrays["train-labels-idx1-ubyte"], "labels read")
        return "the files' data"
    return run


def _run_argv(argv, timeout=60):
    return run(argv, timeout, env=child_env())


def _rewrite_cache(change):
    def tamper(path):
        arrays = dict(np.load(path))
        change(arrays)
        with open(path, "wb") as fh:
            np.savez(fh, **arrays)
    return tamper


def _cache_to(kind):
    def tamper(path):
        os.unlink(path)
        if kind == "fifo":
            os.mkfifo(path)
        elif kind == "dev-zero":
            os.symlink("/dev/zero", path)
        elif kind == "directory":
            os.mkdir(path)
    return tamper


CACHES = {
    "label-200": _rewrite_cache(lambda a: a["t_train"].__setitem__(0, 200)),
    "images-shape": _rewrite_cache(lambda a: a.update(x_train=a["x_train"][:, :27])),
    "label-dtype-int64": _rewrite_cache(lambda a: a.update(t_train=a["t_train"].astype(
        np.int64) - 1)),
    "object-array": lambda p: _object_cache(p),
    "huge-header": lambda p: write_members(p, [(n, raw_npy(
        "{'descr': '|u1', 'fortran_order': False, 'shape': (1099511627776, 28, 28), }")
        if n == "x_train.npy" else d) for n, d in members(p)]),
    "truncated": lambda p: open(p, "r+b").truncate(os.path.getsize(p) // 2),
    "fifo": _cache_to("fifo"),
    "dev-zero": _cache_to("dev-zero"),
    "directory": _cache_to("directory"),
}


def _object_cache(path):
    arrays = dict(np.load(path))
    arrays["t_train"] = arrays["t_train"].astype(object)
    with open(path, "wb") as fh:
        np.savez(fh, **arrays)


for _name, _tamper in CACHES.items():
    REGISTRY.add("dataset-cache/%s" % _name, _cache_case(_tamper),
                 quick=_name in ("label-200", "fifo"), timeout=90)


BOMB = r"""
import gzip, os, resource, struct, sys, zlib
d = sys.argv[1]
os.makedirs(d, exist_ok=True)
names = {"train-images-idx3-ubyte": (60000, 28, 28), "train-labels-idx1-ubyte": (60000,),
         "t10k-images-idx3-ubyte": (10000, 28, 28), "t10k-labels-idx1-ubyte": (10000,)}
extra = int(sys.argv[2]) << 20
for base, dims in names.items():
    head = struct.pack(">I", 0x800 | len(dims)) + b"".join(struct.pack(">I", n) for n in dims)
    z = zlib.compressobj(9, zlib.DEFLATED, 31)
    parts = [z.compress(head)]
    block = b"\0" * (1 << 20)
    size = 1
    for n in dims:
        size *= n
    left = size + extra
    while left > 0:
        parts.append(z.compress(block[:min(left, len(block))]))
        left -= len(block)
    parts.append(z.flush())
    with open(os.path.join(d, base + ".gz"), "wb") as fh:
        fh.write(b"".join(parts))
sizes = sum(os.path.getsize(os.path.join(d, b + ".gz")) for b in names)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
from fastnn.datasets import load_mnist
try:
    load_mnist(normalize=False, data_dir=d, download=False)
    result = "loaded"
except ValueError as exc:
    result = "refused: " + str(exc).splitlines()[0][:150]
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
cache = os.path.join(d, "mnist-cache.npz")
print(sizes, before, peak, os.path.getsize(cache) if os.path.exists(cache) else 0, result)
"""


def _bomb(extra_mb):
    def run(ctx):
        import sys
        rc, out, err = _run_argv([sys.executable, "-c", BOMB, ctx.path("bomb"), str(extra_mb)])
        if rc != 0:
            raise Wrong("the bomb run failed: %s" % one_line(err[-300:]))
        sizes, before, peak, cache, result = out.split(" ", 4)
        grown = (int(peak) - int(before)) / 1024
        if grown > 200:
            raise Wrong("four gzip files of %d KB raised the peak RSS by %.0f MB (%s)"
                        % (int(sizes) // 1024, grown, result.strip()))
        if int(cache) > 60 << 20:
            raise Wrong("a %d MB cache was written" % (int(cache) >> 20))
        return "%d KB of gzip: peak RSS +%.0f MB, %s" % (int(sizes) // 1024, grown,
                                                        result.strip())
    return run


REGISTRY.add("dataset/gzip-bomb-announced-max", _bomb(0), timeout=120)
REGISTRY.add("dataset/gzip-bomb-with-512MB-trailing", _bomb(512), timeout=180, quick=False)


def _fastnn_data_env(value_maker):
    def run(ctx):
        code = ("from fastnn.datasets import load_mnist\n"
                "try:\n"
                "    load_mnist(download=False)\n"
                "except FileNotFoundError as exc:\n"
                "    print('not found:', str(exc).splitlines()[0])\n")
        rc, out, err = run_python(code, timeout=60,
                                  env=child_env({"FASTNN_DATA": value_maker(ctx)}))
        if rc != 0:
            judge_refusal(rc, out, err, "load_mnist with a hostile FASTNN_DATA",
                          accepted_is_wrong=False)
        return one_line(out, 120)
    return run


for _name, _maker in (("fifo", PATHS["fifo"]), ("a-file", _file), ("empty", lambda c: ""),
                      ("dev-null", lambda c: "/dev/null"),
                      ("unwritable", lambda c: "/proc/fastnn-attack")):
    REGISTRY.add("dataset/FASTNN_DATA=%s" % _name, _fastnn_data_env(_maker))


def _crc_check(ctx):
    """A weight changed inside the file with the CRC fixed up loads (the file is the
    user's data); it must predict with the changed weight."""
    base = ctx.path("base.npz")
    net, _ = checkpoint(base)
    items = members(base)
    w = np.load(io.BytesIO(dict(items)["param/W1.npy"]))
    w = w.copy()
    w[0, 0] += 1000.0
    bad = ctx.path("bad.npz")
    write_members(bad, _replace(items, "param/W1.npy", npy(w)))
    from fastnn.serialization import load_network
    loaded = load_network(bad)
    if loaded.params["W1"][0, 0] != w[0, 0]:
        raise Wrong("the changed weight did not load")
    return "loaded the changed weight"


REGISTRY.add("checkpoint/changed-weight-valid-crc", _crc_check)
