"""The shipped cim / gpu-rtx3070ti / cpu-xeon-w3323 profiles: provenance, consistency, and the paper's
Section IV-A facts ("GPU fastest; CIM most energy-efficient; CIM slowest except the last one or two layers").

Where our data disagrees with the paper the test asserts what our data shows (see reports/device_models.md §6).
"""
from pathlib import Path

import pytest

from donna_core.devices import device_profiles as dp
from donna_core.profiling.profiles import read_profile

ROOT = Path(__file__).resolve().parents[2] / "data" / "profiles"
MODELS = ("vgg8", "vgg19", "resnet152", "vit_b_16")


def _profiles(model, granularity="layer"):
    return {d: read_profile(ROOT / model / granularity / f"{d}.csv") for d in dp.DEVICE_TYPES}


@pytest.mark.parametrize("model", MODELS)
def test_provenance_metadata(model):
    for gran in ("layer", "block"):
        profs = _profiles(model, gran)
        cim = profs["cim"].meta
        if model == "vit_b_16":
            assert cim["source_kind"] == "modelled" and cim["energy_source"] == "model"
            assert cim["source"].startswith("CIM estimator, calibrated on")
            assert all(m in cim["source"] for m in ("vgg8", "vgg19", "resnet152"))
            assert any("QK^T" in a for a in cim["assumptions"])
        else:
            assert cim["source_kind"] == "simulated" and cim["energy_source"] == "neurosim"
            assert "DNN+NeuroSim V1.3" in cim["source"] and cim["neurosim"]["commit"].startswith("388f421")
        text = " ".join(cim["assumptions"])
        assert "leakage" in text and "assumed free on CIM" in text
        for d in ("gpu-rtx3070ti", "cpu-xeon-w3323"):
            m = profs[d].meta
            assert m["source_kind"] == "modelled" and m["energy_source"] == "model"
            assert m["model_params"]["spec"]["sources"]["peak_flops"]
        names = [list(p.df.unit) for p in profs.values()]
        assert all(n == names[0] for n in names)


@pytest.mark.parametrize("model", MODELS)
def test_blocks_are_sums_of_layers(model):
    lay, blk = _profiles(model, "layer"), _profiles(model, "block")
    for d in dp.DEVICE_TYPES:
        L, B = lay[d].df, blk[d].df
        assert B.layer_last.iloc[-1] == len(L) - 1
        for r in B.itertuples():
            sl = L.iloc[int(r.layer_first):int(r.layer_last) + 1]
            assert r.time_s == pytest.approx(sl.time_s.sum(), rel=1e-9)
            assert r.energy_j == pytest.approx(sl.energy_j.sum(), rel=1e-9)


# What our data shows for the paper's third fact ("CIM slowest except for the last one or two layers"):
# (is CIM *not* the slowest on each of the last two layers, does "slowest everywhere else" hold).
# The tail holds everywhere, but "slowest everywhere else" does not: the spec-model Xeon is slower than CIM on
# the small late layers (VGG8's 16x16 and 8x8 convs, VGG19's 14x14 convs, ResNet-152's last bottlenecks, ViT's
# patch embedding), because its host-calibrated per-op dispatch cost (~90 us/op on this VM) dominates there.
# Recorded, not bent; regenerated profiles that change this must update this table consciously.
EXPECTED_TAIL = {
    "vgg8": ([True, True], False),
    "vgg19": ([True, True], False),
    "resnet152": ([True, True], False),
    # the rebuilt CIM estimator (tile-buffer terms no longer fitted to 0) puts ViT's last MLP
    # projection (3072->768 over 197 tokens) at 1.08 ms on CIM vs 0.72 ms on the modelled Xeon
    "vit_b_16": ([False, True], False),
}


@pytest.mark.parametrize("model", MODELS)
def test_paper_profile_facts(model):
    f = dp.profile_facts({d: p.df for d, p in _profiles(model).items()})
    # 1. GPU fastest: holds for the whole model on all four
    assert f["gpu_fastest_total"]
    assert f["gpu_fastest_layer_frac"] >= 0.5
    # 2. CIM most energy-efficient: holds on every layer of every model
    assert f["cim_most_efficient_total"]
    assert f["cim_most_efficient_layer_frac"] == 1.0
    # 3. CIM slowest except the last one or two layers: see EXPECTED_TAIL
    tail, except_tail = EXPECTED_TAIL[model]
    assert f["last_two_cim_not_slowest"] == tail, dp.describe_facts(f)
    assert f["cim_slowest_except_last_two"] == except_tail, dp.describe_facts(f)
    assert f["last_two_cim_not_slowest"][-1]  # the classifier (last layer) is never slowest on CIM


def test_profile_facts_logic_on_a_toy_case():
    import pandas as pd
    mk = lambda t, e: pd.DataFrame({"unit": ["a", "b", "c"], "time_s": t, "energy_j": e})
    f = dp.profile_facts({"gpu-rtx3070ti": mk([1, 1, 1], [5, 5, 5]), "cpu-xeon-w3323": mk([2, 2, 2], [9, 9, 9]),
                          "cim": mk([3, 3, 0.5], [1, 1, 1])})
    assert f["gpu_fastest_total"] and f["cim_most_efficient_total"]
    assert f["cim_not_slowest_layers"] == [2] and f["cim_slowest_except_last_two"]
    with pytest.raises(ValueError, match="different units"):
        dp.profile_facts({"gpu-rtx3070ti": mk([1] * 3, [1] * 3),
                          "cpu-xeon-w3323": mk([1] * 3, [1] * 3).assign(unit=list("xyz")),
                          "cim": mk([1] * 3, [1] * 3)})
