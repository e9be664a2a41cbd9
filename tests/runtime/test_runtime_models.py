"""The tests' tiny models (tests/tiny_models.py) and how they cut."""
from __future__ import annotations

from donna_core.profiling.units import derive_units
from tiny_models import tiny_resnet


def test_tiny_resnet_has_a_cut_carrying_the_skip_tensor():
    model, x = tiny_resnet()
    units = derive_units(model, x, "layer").units
    assert [u.name for u in units] == ["c1", "c2", "c3", "fc"]
    assert len(units[1].live_out) == 2  # relu(c2(y)) and the skip y
    assert units[1].out_bytes == 2 * 8 * 16 * 16 * 4
