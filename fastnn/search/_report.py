"""Reporting a search: the live table of the best trials and the figure."""
import math
import sys
import time

from .._fileio import atomic_write
from ._result import _g, format_table

__all__ = ["LiveTable", "plot_search", "plot_comparison"]


def _short(params):
    return " ".join("%s=%s" % ("wd" if k == "weight_decay" else k[:8], _g(v))
                    for k, v in params.items())


class LiveTable:
    """``progress`` callback printing each finished trial and the best ``k`` so far.

    On a terminal the table of the best trials is redrawn in place under a progress line;
    otherwise one line per finished trial is printed, and the table after every round.
    """

    def __init__(self, k=5, stream=None, live=None, label=""):
        self.k = k
        self.stream = stream or sys.stdout
        self.live = self.stream.isatty() if live is None else live
        self.label = label
        self._drawn = 0
        self._start = time.perf_counter()
        self.round = 1
        self.offset = 0
        self.total = None
        self.done = []        # finished records of earlier rounds (renumbered)

    def start_round(self, round_index, offset, total):
        self.round = round_index
        self.offset = offset
        self.total = total
        self._drawn = 0

    def __call__(self, new, finished, n_round):
        out = self.stream
        if not self.live:
            new_ids = {id(r) for r in new}
            earlier = [f for f in finished if id(f) not in new_ids]
            best = max((f.value for f in earlier if f.state == "complete"), default=None)
            for i, r in enumerate(sorted(new, key=lambda r: r.slot)):
                if r.state == "complete" and (best is None or r.value > best):
                    best = r.value
                out.write("%s[%3d/%3d] round %d  #%-3d %-8s %7s  %s  %2d ep %5.1fs | best %s  "
                          "(%.0fs)\n" % (self.label, len(earlier) + i + 1, n_round, self.round,
                                         self.offset + r.slot, r.state,
                                         "-" if r.value is None else "%.4f" % r.value,
                                         " ".join("%s=%s" % (k, _g(v))
                                                  for k, v in r.params.items()),
                                         len(r.curve), r.duration or 0.0,
                                         "-" if best is None else "%.4f" % best,
                                         time.perf_counter() - self._start))
            out.flush()
            return
        if self._drawn:
            out.write("\x1b[%dA\x1b[J" % self._drawn)
        recs = [_renumber(r, self.offset) for r in finished]
        top = sorted([r for r in recs if r.state == "complete"], key=lambda r: -r.value)[:self.k]
        names = list(recs[0].params) if recs else []
        counts = {s: sum(1 for r in recs if r.state == s) for s in ("complete", "pruned",
                                                                     "failed")}
        head = ("%sround %d: %d/%d trials (%d complete, %d pruned, %d failed)  %.0fs"
                % (self.label, self.round, len(recs), n_round, counts["complete"],
                   counts["pruned"], counts["failed"], time.perf_counter() - self._start))
        text = head + "\n" + format_table(top, names) + "\n"
        out.write(text)
        out.flush()
        self._drawn = text.count("\n")


def _renumber(r, offset):
    import copy
    c = copy.copy(r)
    c.number = offset + r.slot
    return c


def _log_axes_params(result, plane=None):
    names = []
    for r in result.rounds[:1]:
        for name, spec in r["space"]:
            if spec.get("kind") in ("loguniform", "intloguniform", "uniform"):
                names.append((name, spec.get("kind") != "uniform"))
    if plane:
        logs = dict(names)
        return [(n, logs.get(n, True)) for n in plane]
    return names[:2]


def plot_search(result, path, *, plane=None, top_k=5, title=None):
    """A figure of ``result`` in ``path``: validation score over the plane of two parameters
    (default: the first two numeric ones, e.g. lr and weight decay) with each round's ranges as
    boxes; the learning curves of the ``top_k`` trials over the others'; best so far by trial."""
    import matplotlib
    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    axes_params = _log_axes_params(result, plane)
    fig, axs = plt.subplots(1, 3, figsize=(17, 5.2))
    ax = axs[0]
    markers = "os^Dv<>ph"
    trials = result.trials
    if len(axes_params) >= 2:
        (px, logx), (py, logy) = axes_params[:2]
        vals = [t.value for t in trials if t.value is not None]
        vmin, vmax = (min(vals), max(vals)) if vals else (0, 1)
        sc = None
        for r in sorted({t.round for t in trials}):
            for state, face in (("complete", True), ("pruned", False)):
                pts = [t for t in trials if t.round == r and t.state == state
                       and t.value is not None and px in t.params and py in t.params]
                if not pts:
                    continue
                kw = dict(c=[t.value for t in pts], cmap="viridis", vmin=vmin, vmax=vmax,
                          marker=markers[(r - 1) % len(markers)], edgecolors="k",
                          linewidths=0.4, s=46 if face else 22, alpha=1.0 if face else 0.45,
                          label="round %d %s" % (r, state))
                sc = ax.scatter([t.params[px] for t in pts], [t.params[py] for t in pts], **kw)
        for i, rinfo in enumerate(result.rounds):
            spec = dict((n, s) for n, s in rinfo["space"])
            if px in spec and py in spec and "low" in spec[px] and "low" in spec[py]:
                x0, x1 = spec[px]["low"], spec[px]["high"]
                y0, y1 = spec[py]["low"], spec[py]["high"]
                color = "C%d" % (i + 1)
                # named in the legend: labels at the corners of nested boxes overlap
                ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, lw=1.6,
                                       ls="--", ec=color, label="round %d range" % rinfo["round"]))
        b = result.best
        if b is not None and px in b.params and py in b.params:
            ax.scatter([b.params[px]], [b.params[py]], marker="*", s=260, c="red",
                       edgecolors="k", zorder=5, label="best %.4f" % b.value)
        if logx:
            ax.set_xscale("log")
        if logy:
            ax.set_yscale("log")
        ax.set_xlabel(px)
        ax.set_ylabel(py)
        if sc is not None:
            fig.colorbar(sc, ax=ax, label="validation accuracy")
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=3,
                  frameon=False)   # below the axes: inside, it covers trials
        ax.set_title("validation accuracy over (%s, %s)" % (px, py))
    else:
        ax.set_axis_off()

    ax = axs[1]
    top = result.top(top_k)
    top_ids = {id(t) for t in top}
    for t in trials:
        if id(t) not in top_ids and t.curve:
            ax.plot(t.steps, t.curve, color="0.8", lw=0.6,
                    ls="-" if t.state == "complete" else ":")
    for i, t in enumerate(top):
        ax.plot(t.steps, t.curve, lw=1.8, color="C%d" % i,
                label="#%d r%d %.4f %s" % (t.number, t.round, t.value, _short(t.params)))
    ax.set_xlabel("epoch")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_ylabel("validation accuracy")
    ax.set_title("top-%d learning curves (grey: the others, dotted: pruned)" % len(top))
    ax.legend(fontsize=7, loc="lower right")

    ax = axs[2]
    order = sorted(trials, key=lambda t: t.number)
    xs = [t.number for t in order]
    ax.scatter(xs, [t.value if t.value is not None else math.nan for t in order],
               c=["C0" if t.state == "complete" else "0.6" for t in order], s=12)
    ax.step(xs, [v if v is not None else math.nan for v in result.best_so_far()], where="post",
            color="C3", label="best so far")
    for rinfo in result.rounds[1:]:
        start = min((t.number for t in trials if t.round == rinfo["round"]), default=None)
        if start is not None:
            ax.axvline(start - 0.5, color="k", ls="--", lw=0.8)
            ax.annotate("round %d" % rinfo["round"], (start, 0.02), rotation=90,
                        xycoords=("data", "axes fraction"), fontsize=8, va="bottom")
    ax.set_xlabel("trial")
    ax.set_ylabel("validation accuracy")
    ax.set_title("score by trial (grey: pruned)")
    ax.legend(fontsize=8, loc="lower right")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    with atomic_write(path, "wb") as fh:
        fig.savefig(fh, format="png", dpi=110)
    plt.close(fig)


def plot_comparison(results, path, title=None):
    """Best score so far by trial for several searches (e.g. ``{'random': r1, 'tpe': r2}``)."""
    import matplotlib
    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, res in results.items():
        bsf = res.best_so_far()
        ax.step(range(len(bsf)), [math.nan if v is None else v for v in bsf], where="post",
                label="%s (best %s, %d epochs)" % (name, "-" if res.best_value is None
                                                   else "%.4f" % res.best_value,
                                                   res.epochs_trained()))
    ax.set_xlabel("trial")
    ax.set_ylabel("best validation accuracy so far")
    ax.legend()
    ax.set_title(title or "samplers on the same budget")
    fig.tight_layout()
    with atomic_write(path, "wb") as fh:
        fig.savefig(fh, format="png", dpi=110)
    plt.close(fig)
