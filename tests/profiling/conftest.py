"""Fixtures shared by the profiling tests."""
from __future__ import annotations

import pytest
import torch


@pytest.fixture(scope="module")
def one_thread():
    """One intra-op thread for a whole test module: on a shared 2-core machine, spinning OpenMP workers make the
    suite crawl."""
    prev = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(prev)
