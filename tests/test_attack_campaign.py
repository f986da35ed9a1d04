"""The attack campaign of scripts/attack, quick mode: no crash, hang or wrong result.

``scripts/attack --quick`` runs a sample of every category (layers and ops
against the reference, optimizers, concurrency, thread settings, files,
the CLI, the search, memory) in child processes, about half a minute on two
cores; the full campaign is ``scripts/attack`` (a few minutes).
"""
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "scripts", "attack")

pytestmark = [pytest.mark.e2e,
              pytest.mark.skipif(not os.path.exists(SCRIPT),
                                 reason="scripts/attack is not in this tree")]


def test_quick_attack_campaign_finds_no_crash_hang_or_wrong_result():
    proc = subprocess.run([sys.executable, SCRIPT, "--quick", "--timeout", "60"],
                          capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
    assert "no crash, hang or wrong result" in proc.stdout
