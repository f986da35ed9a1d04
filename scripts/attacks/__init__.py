"""The cases of ``scripts/attack``, one module per category (see that script)."""
import importlib

CATEGORIES = ["layers", "optimizers", "concurrency", "threads", "files", "cli", "search",
              "memory"]


def load_cases():
    """Every case of every category, in a fixed order (ids are unique)."""
    cases = []
    for name in CATEGORIES:
        module = importlib.import_module("attacks." + name)
        cases += module.REGISTRY.cases
    ids = [c.id for c in cases]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise RuntimeError("duplicate case ids: %s" % ", ".join(dupes))
    return cases
