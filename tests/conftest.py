import os
import sys

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
