import sys
from pathlib import Path

# tests/bruteforce.py is a helper module shared by the solver tests
sys.path.insert(0, str(Path(__file__).parent))
