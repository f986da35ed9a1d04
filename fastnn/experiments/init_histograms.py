"""Figures 6-10 to 6-14: activation histograms of 5 layers for several initial weights.

1000 random Gaussian inputs of 100 features go through five 100-unit
layers (no bias).  With sigmoid: std 1 pushes activations to 0 and 1
(vanishing gradients), std 0.01 squeezes them around 0.5 (every unit says
the same), Xavier (std 1/√n) keeps them spread; tanh with Xavier gives a
bell shape around 0.  With ReLU: std 0.01 makes them shrink layer after
layer, Xavier still shrinks them, He (std √(2/n)) keeps the spread the same
in every layer.
"""
import numpy as np

NAME = "init-histograms"
TITLE = "Activation distributions for different initial weights (Figures 6-10 to 6-14)"
BOOK_FIGURES = ["6-10", "6-11", "6-13", "6-14"]
USES_DATASET = False

DEFAULTS = {
    "samples": 1000,
    "nodes": 100,
    "layers": 5,
    "bins": 30,
    "cases": [
        # (figure, activation, label, weight std: a number, 'xavier' or 'he')
        ["sigmoid", "sigmoid", "std=1", 1.0],
        ["sigmoid", "sigmoid", "std=0.01", 0.01],
        ["sigmoid", "sigmoid", "Xavier", "xavier"],
        ["tanh", "tanh", "Xavier", "xavier"],
        ["relu", "relu", "std=0.01", 0.01],
        ["relu", "relu", "Xavier", "xavier"],
        ["relu", "relu", "He", "he"],
    ],
}
QUICK = {}

_RANGES = {"sigmoid": (0.0, 1.0), "tanh": (-1.0, 1.0), "relu": (0.0, 1.0)}


def _std(spec, fan_in):
    if spec == "xavier":
        return np.sqrt(1.0 / fan_in)
    if spec == "he":
        return np.sqrt(2.0 / fan_in)
    return float(spec)


def activations(activation, weight_std, samples=1000, nodes=100, layers=5, backend=None,
                rng=None):
    """The activations of each layer (a list of (samples, nodes) arrays)."""
    from .._activations import activation_layer
    from .._backend import get_backend
    L = get_backend(backend).layers
    rng = np.random if rng is None else rng
    x = rng.randn(samples, nodes)
    act_layer = activation_layer(activation, L)
    out = []
    a = x
    zero = np.zeros(nodes)
    for _ in range(layers):
        W = rng.randn(nodes, nodes) * _std(weight_std, nodes)
        z = L.Affine(W, zero).forward(a)
        a = act_layer().forward(z)
        out.append(np.array(a, copy=True))
    return out


def _summary(activation, acts):
    rows = []
    for a in acts:
        row = {"mean": float(a.mean()), "std": float(a.std())}
        if activation == "sigmoid":
            row["saturated"] = float(np.mean((a < 0.1) | (a > 0.9)))
        elif activation == "tanh":
            row["saturated"] = float(np.mean(np.abs(a) > 0.9))
        else:
            row["zero"] = float(np.mean(a == 0))
        rows.append(row)
    return rows


def run(ctx):
    p = ctx.p
    results = {}
    for fig_name, activation, label, spec in p["cases"]:
        np.random.seed(ctx.seed)
        acts = activations(activation, spec, p["samples"], p["nodes"], p["layers"],
                           ctx.backend)
        key = "%s %s" % (activation, label)
        rows = _summary(activation, acts)
        results[key] = (fig_name, activation, label, acts)
        stds = " ".join("%.4f" % r["std"] for r in rows)
        extra = ""
        if "saturated" in rows[0]:
            extra = ", near the ends %.0f%% -> %.0f%%" % (100 * rows[0]["saturated"],
                                                          100 * rows[-1]["saturated"])
        ctx.emit(key, rows, "%-16s activation std by layer: %s%s" % (key, stds, extra))
    for fig_name in dict.fromkeys(c[0] for c in p["cases"]):
        cases = [v for v in results.values() if v[0] == fig_name]
        ctx.plot(lambda cases=cases: _figure(cases, p), "init-histograms-%s.png" % fig_name)


def _figure(cases, p):
    from ._common import new_figure
    nrows, ncols = len(cases), p["layers"]
    fig = new_figure(figsize=(2.6 * ncols, 2.3 * nrows))
    for r, (_, activation, label, acts) in enumerate(cases):
        lo, hi = _RANGES[activation]
        for c, a in enumerate(acts):
            ax = fig.add_subplot(nrows, ncols, r * ncols + c + 1)
            ax.hist(a.ravel(), bins=p["bins"], range=(lo, hi), color="tab:blue")
            if activation == "relu":
                ax.set_ylim(0, 7000)
            ax.set_title("%s, %s: layer %d" % (activation, label, c + 1), fontsize=9)
            ax.tick_params(labelsize=7)
            if c:
                ax.set_yticks([])
    fig.tight_layout()
    return fig
