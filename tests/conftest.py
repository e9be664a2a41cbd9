import os

from hypothesis import settings

# Locally hypothesis explores new random instances on every run (that is how it finds bugs); in CI the
# examples are derived deterministically so that a submission's result does not depend on luck.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")
