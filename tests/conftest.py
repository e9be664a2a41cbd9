import os
import sys
from pathlib import Path

from hypothesis import settings

# tests/bruteforce.py and tests/problems.py are helper modules shared by the solver tests
sys.path.insert(0, str(Path(__file__).parent))

# Locally hypothesis explores new random instances on every run (that is how it finds bugs); in CI the
# examples are derived deterministically so that a submission's result does not depend on luck.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")
