import os
import sys

import pytest
from hypothesis import HealthCheck, settings

# Make tests/_util.py importable as a plain module whatever the import mode.
sys.path.insert(0, os.path.dirname(__file__))

# Property-based tests: a moderate number of examples per run ("ci", the
# default), or a long campaign: pytest --hypothesis-profile=campaign
settings.register_profile("ci", max_examples=40, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("campaign", max_examples=5000, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("FASTNN_HYPOTHESIS_PROFILE", "ci"))


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """An end-to-end test (marked e2e) counts as slow too, so `pytest -m "not slow"` leaves
    out both (pyproject.toml registers the markers)."""
    for item in items:
        if item.get_closest_marker("e2e") is not None and item.get_closest_marker("slow") is None:
            item.add_marker(pytest.mark.slow)
