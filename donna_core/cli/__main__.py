"""``python -m donna_core.cli`` = the ``donna`` command."""
import sys

from .main import main

sys.exit(main())
