"""How the package's modules import each other, and what ``import fastnn.layers`` loads.

* No import cycle among the package's modules (every ``import`` statement counts, those
  inside functions too; importing a package's ``__init__`` does not close a cycle).
* Nothing imports upward into the command line: ``fastnn.cli`` is imported by
  ``fastnn.__main__`` and by itself only (``fastnn.experiments`` runs ``fastnn train`` as a
  child process).
* ``import fastnn.layers``, the book's drop-in, loads none of the heavy modules that only
  the command line, the search, the plots or threadpoolctl users need.
"""
import ast
import os
import subprocess
import sys
import textwrap

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = os.path.join(ROOT, "fastnn")


def _modules():
    """{dotted name: path} of every .py file of the package."""
    found = {}
    for folder, _, files in os.walk(PACKAGE):
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                parts = os.path.relpath(path, ROOT)[:-3].split(os.sep)
                if parts[-1] == "__init__":
                    parts = parts[:-1]
                found[".".join(parts)] = path
    return found


MODULES = _modules()


def _is_package(name):
    return MODULES[name].endswith("__init__.py")


def _imported(name):
    """The package's modules that module ``name`` imports anywhere in its text."""
    with open(MODULES[name], encoding="utf-8") as f:
        tree = ast.parse(f.read(), MODULES[name])
    here = name.split(".") if _is_package(name) else name.split(".")[:-1]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[:len(here) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module
            found.add(target)
            # `from . import x` imports the module x when there is one
            found.update(target + "." + alias.name for alias in node.names)
    return {m for m in found if m in MODULES}


GRAPH = {name: _imported(name) for name in MODULES}


def _cycles(graph):
    """The cycles of ``graph`` (its strongly connected parts with more than one module),
    packages' ``__init__`` modules left out."""
    index, low, stack, on_stack, parts = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if _is_package(w):
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            part = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                part.append(w)
                if w == v:
                    break
            if len(part) > 1:
                parts.append(sorted(part))

    for v in sorted(graph):
        if v not in index and not _is_package(v):
            visit(v)
    return parts


def test_the_graph_sees_imports_inside_functions():
    # the check below is only as good as the graph: these edges are lazy imports
    assert "fastnn.serialization" in GRAPH["fastnn.experiments.babysit"]
    assert "fastnn.cli._resume" in GRAPH["fastnn.cli.train"]
    assert "fastnn.trainer" in GRAPH["fastnn.cli._resume"]


def test_cycle_finder_finds_a_cycle():
    graph = {"fastnn.cli.train": {"fastnn.cli._resume"},
             "fastnn.cli._resume": {"fastnn.cli.train", "fastnn.cli"},
             "fastnn.cli": {"fastnn.cli.train"}}
    assert _cycles(graph) == [["fastnn.cli._resume", "fastnn.cli.train"]]


def test_no_import_cycle_between_the_package_modules():
    assert _cycles(GRAPH) == []


def test_only_the_entry_point_imports_the_command_line():
    upward = sorted("%s imports %s" % (name, target)
                    for name, targets in GRAPH.items()
                    if name != "fastnn.__main__" and not name.startswith("fastnn.cli")
                    for target in targets if target.split(".")[:2] == ["fastnn", "cli"])
    assert upward == []


# Modules that `import fastnn.layers` must not load: the command line, the search, data
# sets and training loops, plots, databases, threadpoolctl (registered with fastnn's pool
# only once something imports it), scipy_openblas32's package (its __init__ loads the
# library before fastnn can keep it at one thread), and what they pull in.
HEAVY = ["scipy", "scipy_openblas32", "importlib.metadata", "matplotlib", "threadpoolctl",
         "sqlite3", "sqlalchemy", "optuna",
         "psycopg2", "tqdm", "pandas", "torch", "argparse", "subprocess", "multiprocessing",
         "concurrent.futures", "urllib.request", "http.client", "gzip",
         "fastnn.cli", "fastnn.search", "fastnn.experiments", "fastnn.trainer",
         "fastnn.datasets", "fastnn.serialization"]


def _run(code):
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, PYTHONPATH=ROOT))
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_import_fastnn_layers_loads_no_heavy_module():
    out = _run("""
        import sys
        before = set(sys.modules)
        import fastnn.layers
        assert fastnn.layers.__file__.startswith(%r), fastnn.layers.__file__
        new = set(sys.modules) - before
        print(sorted(m for m in %r if m in new))
    """ % (PACKAGE, HEAVY))
    assert out.strip() == "[]"


def test_threadpoolctl_imported_after_fastnn_sees_the_pool():
    # fastnn registers its pool when threadpoolctl is imported, before or after it, and a
    # look for the module (find_spec, as libraries do to see what is installed) is no import
    for first, second in (("fastnn", "threadpoolctl"), ("threadpoolctl", "fastnn")):
        out = _run("""
            import importlib.util
            import %s
            importlib.util.find_spec("threadpoolctl")
            import %s
            import fastnn, threadpoolctl
            ours = [p for p in threadpoolctl.threadpool_info() if p["internal_api"] == "fastnn"]
            assert len(ours) == 1, ours
            with threadpoolctl.threadpool_limits(limits=1, user_api="openmp"):
                print(fastnn.get_num_threads())
        """ % (first, second))
        assert out.strip() == "1", (first, second)
