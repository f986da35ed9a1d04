"""Figure 6-8: optimizers on f(x, y) = x²/20 + y², starting from (-7, 2).

The function is 20 times steeper along y than along x.  Plain SGD with the
book's learning rate zig-zags across the valley (y changes sign at every
step); Momentum swings like a ball rolling in a bowl; AdaGrad shrinks the
y step at once and glides along x; Adam and RMSprop adapt per coordinate.
"""
import numpy as np

from .._text import plural

NAME = "optimizers-2d"
TITLE = "Optimizers on f(x, y) = x²/20 + y² (Figure 6-8)"
BOOK_FIGURES = ["6-8"]
USES_DATASET = False

# The book's learning rates for its four; RMSprop and Nesterov are extras.
DEFAULTS = {
    "steps": 30,
    "start": (-7.0, 2.0),
    "lr": {"SGD": 0.95, "Momentum": 0.1, "Nesterov": 0.1, "AdaGrad": 1.5,
           "RMSprop": 0.1, "Adam": 0.3},
}
QUICK = {}


def f(x, y):
    return x ** 2 / 20.0 + y ** 2


def df(x, y):
    return x / 10.0, 2.0 * y


def trajectory(optimizer, start, steps):
    """The points visited by ``optimizer`` from ``start`` (steps + 1 rows of (x, y))."""
    params = {"x": float(start[0]), "y": float(start[1])}
    path = [(params["x"], params["y"])]
    for _ in range(steps):
        gx, gy = df(params["x"], params["y"])
        optimizer.update(params, {"x": gx, "y": gy})
        path.append((float(params["x"]), float(params["y"])))
    return np.array(path)


def run(ctx):
    from .._backend import get_backend
    optim = get_backend(ctx.backend).optimizer
    paths = {}
    for name, lr in ctx.p["lr"].items():
        path = trajectory(getattr(optim, name)(lr=lr), ctx.p["start"], ctx.p["steps"])
        paths[name] = path
        end = path[-1]
        flips = int(np.sum(np.sign(path[1:, 1]) != np.sign(path[:-1, 1])))
        dist = float(np.hypot(end[0], end[1]))
        ctx.emit(name, {"lr": lr, "end": end.tolist(), "distance": dist, "y_sign_flips": flips,
                        "f_end": float(f(*end))},
                 "%-8s lr %-5g ends at (%+.4f, %+.4f), distance to the minimum %.4f, "
                 "y changes sign %d of %s" % (name, lr, end[0], end[1], dist, flips,
                                               plural(ctx.p["steps"], "step")))
        ctx.note(name + "_path", path.tolist())
    ctx.plot(lambda: _figure(paths, ctx.p), "optimizers-2d.png")


def _figure(paths, p):
    from ._common import new_figure
    names = list(paths)
    ncols = 3 if len(names) > 4 else 2
    nrows = int(np.ceil(len(names) / ncols))
    fig = new_figure(figsize=(4.2 * ncols, 3.6 * nrows))
    xs = np.linspace(-10, 10, 201)
    ys = np.linspace(-5, 5, 101)
    X, Y = np.meshgrid(xs, ys)
    Z = f(X, Y)
    for i, name in enumerate(names):
        ax = fig.add_subplot(nrows, ncols, i + 1)
        ax.contour(X, Y, Z, levels=np.linspace(0.5, 20, 12), colors="0.6", linewidths=0.8)
        path = paths[name]
        ax.plot(path[:, 0], path[:, 1], "o-", color="red", markersize=3, linewidth=1)
        ax.plot(0, 0, "+", color="black", markersize=10)
        ax.set_xlim(-10, 10)
        ax.set_ylim(-5, 5)
        ax.set_title("%s (lr %g)" % (name, p["lr"][name]))
        ax.set_xlabel("x")
        ax.set_ylabel("y")
    fig.suptitle("f(x, y) = x²/20 + y², %d steps from (%g, %g)"
                 % (p["steps"], p["start"][0], p["start"][1]))
    fig.tight_layout()
    return fig
