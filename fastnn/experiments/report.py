"""``fastnn run all``: every experiment, timed with both backends, in one HTML report."""
import base64
import html
import json
import os
import platform
import sys
import time

from .._fileio import atomic_write

__all__ = ["run_all", "write_report"]


def _other(backend):
    return "reference" if backend == "fast" else "fast"


def run_all(*, dataset="sample", backend="fast", seed=0, quick=False, out="fastnn-results",
            compare=True, only=None, overrides=None, stream=None):
    from . import names, run_experiment
    from ._common import Context, _jsonable
    stream = sys.stdout if stream is None else stream
    selected = list(only) if only else names()
    # Load the data and both backends once, before any clock starts.
    from . import get
    from .._backend import get_backend
    for name in ("fast", "reference"):
        get_backend(name)
    if any(getattr(get(n), "USES_DATASET", True) for n in selected):
        Context(get(selected[0]), dataset=dataset).load_data()
    results, timings = {}, {}
    t_start = time.perf_counter()
    for name in selected:
        settings = (overrides or {}).get(name)
        res = run_experiment(name, dataset=dataset, backend=backend, seed=seed, quick=quick,
                             out=out, overrides=settings, stream=stream)
        results[name] = res
        timings[name] = {backend: res.compute_time, "wall": res.wall_time}
        msg = "%s: %s with the %s backend" % (name, _secs(res.compute_time), backend)
        if compare:
            other = _other(backend)
            twin = run_experiment(name, dataset=dataset, backend=other, seed=seed,
                                  quick=quick, out=out, overrides=settings, write=False,
                                  stream=_Null())
            timings[name][other] = twin.compute_time
            msg += ", %s with %s" % (_secs(twin.compute_time), other)
        print(msg, file=stream, flush=True)
    total = time.perf_counter() - t_start
    skipped = [r.figures_skipped for r in results.values() if r.figures_skipped]
    if skipped:
        print("no figures: %s" % skipped[0], file=stream, flush=True)
    summary = {
        "dataset": dataset, "backend": backend, "seed": seed, "quick": quick,
        "compare": compare, "total_wall_time": total,
        "timings": timings, "totals": _totals(timings, backend, compare),
        "experiments": {n: r.to_dict() for n, r in results.items()},
        "environment": _environment(),
    }
    os.makedirs(out, exist_ok=True)
    with atomic_write(os.path.join(out, "all.json"), "w") as fh:
        json.dump(_jsonable(summary), fh, indent=1)
    path = write_report(summary, results, os.path.join(out, "report.html"))
    summary["report"] = path
    t = summary["totals"]
    if compare and t["speedup"] is not None:
        print("all: %.1fs fast, %.1fs reference: the fast backend takes %.2f of the "
              "reference's time (speedup %.2fx); report %s"
              % (t["fast"], t["reference"], t["ratio"], t["speedup"], path),
              file=stream, flush=True)
    elif compare:
        print("all: %.1fs fast, %.1fs reference: too short to compare; report %s"
              % (t["fast"], t["reference"], path), file=stream, flush=True)
    else:
        print("all: %.1fs with %s; report %s" % (t[backend], backend, path), file=stream,
              flush=True)
    return summary


class _Null:
    def write(self, s):
        return len(s)

    def flush(self):
        pass


def _totals(timings, backend, compare):
    out = {backend: sum(t[backend] for t in timings.values())}
    if compare:
        other = _other(backend)
        out[other] = sum(t[other] for t in timings.values())
        out["speedup"] = _speedup(out["fast"], out["reference"])
        out["ratio"] = 1.0 / out["speedup"] if out["speedup"] else None
    return out


def _environment():
    import numpy as np
    from .. import __version__
    from .._config import compiled_kernels, num_threads
    env = {"fastnn": __version__, "python": platform.python_version(), "numpy": np.__version__,
           "machine": platform.machine(), "processor": platform.processor() or "",
           "cpu_count": os.cpu_count(), "fastnn_threads": num_threads(),
           "compiled_kernels": {k: v is True for k, v in compiled_kernels().items()},
           "date": time.strftime("%Y-%m-%d %H:%M:%S")}
    try:
        from threadpoolctl import threadpool_info
        env["blas"] = ["%s %s, %s threads" % (p.get("internal_api"), p.get("version"),
                                              p.get("num_threads"))
                       for p in threadpool_info()]
    except Exception:  # pragma: no cover - optional details
        pass
    return env


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;max-width:1100px;
margin:2em auto;padding:0 1em;color:#222;line-height:1.45}
h1{font-size:1.6em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.25em .6em;
text-align:right}th{background:#f3f3f3}td.l,th.l{text-align:left}
pre{background:#f6f6f6;padding:.6em;overflow-x:auto;font-size:.85em}
img{max-width:100%;border:1px solid #ddd;margin:.5em 0}
.small{color:#666;font-size:.9em}details{margin:.5em 0}
"""


# Below this many seconds a time is noise of the clock and the scheduler:
# the report shows "—" for it, and for a speedup computed from it.
MEASURABLE_S = 0.01


def _fmt(v):
    return "%.2f" % v if isinstance(v, (int, float)) and v is not None else "—"


def _fmt_time(v):
    return _fmt(v if isinstance(v, (int, float)) and v >= MEASURABLE_S else None)


def _secs(v):
    """'1.23s', or '—' for a time too small to measure (as in the report's table)."""
    text = _fmt_time(v)
    return text + "s" if text != "—" else text


def _speedup(fast, reference):
    """reference / fast, or None when either time is too small to measure."""
    if fast is None or reference is None or min(fast, reference) < MEASURABLE_S:
        return None
    return reference / fast


def _abridge(obj, limit=12):
    """``obj`` with lists longer than ``limit`` cut to their ends (for reading)."""
    if isinstance(obj, dict):
        return {k: _abridge(v, limit) for k, v in obj.items()}
    if isinstance(obj, list):
        if len(obj) > limit:
            head = [_abridge(v, limit) for v in obj[:3]]
            return head + ["... %d more ..." % (len(obj) - 4), _abridge(obj[-1], limit)]
        return [_abridge(v, limit) for v in obj]
    if isinstance(obj, float):
        return float("%.6g" % obj)
    return obj


def write_report(summary, results, path):
    """Write the self-contained HTML report (figures embedded as data URIs)."""
    e = html.escape
    timings, totals = summary["timings"], summary["totals"]
    compare = summary["compare"]
    backend = summary["backend"]
    parts = ["<!DOCTYPE html><html><head><meta charset='utf-8'>",
             "<title>fastnn: Deep Learning from Scratch, chapter 6</title>",
             "<style>%s</style></head><body>" % _CSS,
             "<h1>Deep Learning from Scratch, chapter 6 — the experiments</h1>",
             "<p>Data set <b>%s</b>, backend <b>%s</b>, seed %d%s. Generated by "
             "<code>fastnn run all</code> on %s.</p>"
             % (e(summary["dataset"]), e(backend), summary["seed"],
                ", <b>quick mode</b> (reduced settings)" if summary["quick"] else "",
                e(summary["environment"]["date"]))]
    # timings
    parts.append("<h2>Wall time per experiment</h2>")
    parts.append("<p class='small'>Seconds of computation (drawing and saving figures and "
                 "loading data left out); both backends do the same seeded work. "
                 "— marks a time under %g s, too small to measure.</p>" % MEASURABLE_S)
    head = "<tr><th class='l'>experiment</th>"
    cols = ["fast", "reference"] if compare else [backend]
    head += "".join("<th>%s (s)</th>" % c for c in cols)
    head += "<th>speedup</th></tr>" if compare else "</tr>"
    rows = [head]
    for name, t in timings.items():
        row = "<tr><td class='l'><a href='#%s'>%s</a></td>" % (e(name), e(name))
        row += "".join("<td>%s</td>" % _fmt_time(t.get(c)) for c in cols)
        if compare:
            sp = _speedup(t.get("fast"), t.get("reference"))
            row += "<td>%s</td>" % (_fmt(sp) + "×" if sp is not None else "—")
        rows.append(row + "</tr>")
    tot = "<tr><th class='l'>total</th>" + "".join("<th>%s</th>" % _fmt_time(totals.get(c))
                                                  for c in cols)
    sp = totals.get("speedup")
    tot += ("<th>%s</th></tr>" % (_fmt(sp) + "×" if sp is not None else "—")
            if compare else "</tr>")
    rows.append(tot)
    parts.append("<table>%s</table>" % "".join(rows))
    if compare and totals["speedup"] is not None:
        parts.append("<p>The fast backend takes <b>%.2f</b> of the reference backend's time "
                     "(speedup %.2f×). Both call the same BLAS for the matrix products, which "
                     "bounds the possible gain.</p>" % (totals["ratio"], totals["speedup"]))
    # experiments
    for name, res in results.items():
        parts.append("<h2 id='%s'>%s</h2>" % (e(name), e(res.title)))
        parts.append("<p class='small'><code>fastnn run %s</code> — settings: %s</p>"
                     % (e(name), e(json.dumps(res.settings["params"], default=str))))
        parts.append("<pre>%s</pre>" % e("\n".join(res.lines)))
        parts.append("<details><summary>the numbers (JSON; long lists cut)</summary><pre>%s"
                     "</pre></details>" % e(json.dumps(_abridge(res.to_dict()["numbers"]),
                                                        indent=1)))
        for fig in res.figures:
            with open(fig, "rb") as fh:
                data = base64.b64encode(fh.read()).decode("ascii")
            parts.append("<div><img alt='%s' src='data:image/png;base64,%s'></div>"
                         % (e(os.path.basename(fig)), data))
    env = summary["environment"]
    parts.append("<h2>Environment</h2><pre>%s</pre>" % e(json.dumps(env, indent=1)))
    parts.append("</body></html>")
    with atomic_write(path, "w") as fh:
        fh.write("\n".join(parts))
    return path
