"""Decoder LLMs: units reproduce the logits, unit byte/MAC accounting, shipped profiles."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from donna_core.profiling import llm
from donna_core.profiling.profiles import load_profiles, read_profile

REPO = Path(__file__).resolve().parents[2]
PROFILES = REPO / "data" / "profiles"


@pytest.fixture(scope="module")
def small():
    return {name: llm.build_llm(name, small=True) for name in llm.LLM_NAMES}


@pytest.mark.parametrize("phase", llm.PHASES)
@pytest.mark.parametrize("name", llm.LLM_NAMES)
def test_units_in_sequence_reproduce_logits_exactly(small, name, phase):
    plan = llm.build_plan(small[name], phase, context=9)
    with torch.no_grad():
        ref = plan.whole(plan.tokens)
        out = plan.run(plan.tokens)
        again = plan.run(plan.tokens)  # the KV cache is rewound: a second pass gives the same logits
    assert out.shape == (1, 1, small[name].config.vocab_size)
    assert torch.equal(out, ref)
    assert torch.equal(again, ref)


@pytest.mark.parametrize("name", llm.LLM_NAMES)
def test_decode_with_cache_matches_a_full_forward(small, name):
    """Decode of token S against the prefilled cache = the last logits of a forward over all S+1 tokens."""
    model = small[name]
    plan = llm.build_plan(model, "decode", context=7)
    prompt = llm.example_tokens(model.config.vocab_size, 7)
    with torch.no_grad():
        full = model(input_ids=torch.cat([prompt, plan.tokens], dim=1)).logits[:, -1:, :]
        out = plan.run(plan.tokens)
    torch.testing.assert_close(out, full, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", llm.LLM_NAMES)
def test_unit_accounting_matches_the_model(small, name):
    model = small[name]
    shape = llm.shape_of(model.config)
    s = 9
    pre = llm.build_plan(model, "prefill", s).units
    dec = llm.build_plan(model, "decode", s).units
    assert [u.weight_bytes for u in pre] == llm.param_bytes_per_unit(model)
    assert [u.name for u in pre] == ["embed"] + [f"block_{i}" for i in range(shape.layers)] + ["head"]
    assert all(u.out_bytes == s * shape.d * 4 for u in pre[:-1])
    assert all(u.out_bytes == shape.d * 4 for u in dec[:-1])
    kv = 2 * shape.kv_heads * shape.head_dim * s * 4
    assert [u.kv_bytes for u in dec] == [0] + [kv] * shape.layers + [0]
    for u in dec[1:-1]:
        assert u.act_macs == 2 * 1 * (s + 1) * shape.heads * shape.head_dim
    # decoder-block MACs = one token through every weight matrix of the block + QK^T and AV
    core = model.transformer.h[0] if name == "gpt2" else model.model.layers[0]
    mats = sum(p.numel() for p in core.parameters() if p.dim() == 2)
    assert dec[1].macs == mats + dec[1].act_macs
    assert pre[1].macs == s * mats + 2 * s * s * shape.heads * shape.head_dim


def test_real_shapes_have_the_published_parameter_counts():
    """GPT-2 small 124,439,808 parameters; TinyLlama-1.1B 1,100,048,384 (the LM head counted once here)."""
    for name, params in (("gpt2", 124_439_808), ("tinyllama", 1_100_048_384)):
        shape = llm.shape_of(llm.llm_config(name))
        units = llm.unit_costs(shape, "decode", 128)
        total = sum(u.weight_bytes for u in units) // 4
        if shape.tied_head:
            total -= shape.vocab * shape.d  # a pipeline stage needs its own head copy; the model stores it once
        assert total == params, name
    t = llm.shape_of(llm.llm_config("tinyllama"))
    assert (t.layers, t.d, t.heads, t.kv_heads, t.ffn, t.vocab) == (22, 2048, 32, 4, 5632, 32000)


def test_bad_phase_and_context_are_clear_errors():
    with pytest.raises(llm.LLMError, match="phase must be one of"):
        llm.check_phase("generate", 8)
    with pytest.raises(llm.LLMError, match="positive integer"):
        llm.check_phase("decode", 0)
    with pytest.raises(llm.LLMError, match="unknown LLM"):
        llm.llm_config("llama-70b")


@pytest.mark.parametrize("phase", llm.PHASES)
@pytest.mark.parametrize("name", llm.LLM_NAMES)
def test_shipped_cpu_host_profiles(name, phase):
    """Measured on this machine: logits reproduced on the real shapes, unit sum within 10 % of the whole model,
    units as llm.unit_costs says, no energy (no meter here)."""
    prof = read_profile(PROFILES / name / phase / "cpu-host.csv")
    m = prof.meta
    assert m["source_kind"] == "measured" and m["energy_source"] == "unavailable"
    assert m["units_reproduce_logits"] is True and m["threads"] == 1
    assert abs(m["sum_to_whole_ratio"] - 1) <= 0.10
    assert m["load_avg_before"] and m["libraries"]["transformers"]
    table = llm.unit_frame(llm.unit_costs(llm.shape_of(llm.llm_config(name)), phase, m["context"]))
    for col in ("unit", "out_bytes", "weight_bytes", "macs", "kv_bytes", "act_macs"):
        assert list(prof.df[col]) == list(table[col]), col


@pytest.mark.parametrize("phase", llm.PHASES)
@pytest.mark.parametrize("name", llm.LLM_NAMES)
def test_shipped_device_profiles_cover_every_type(name, phase):
    profs = load_profiles(PROFILES, name, phase)
    assert set(profs) == {"cpu-host", "cim", "gpu-rtx3070ti", "cpu-xeon-w3323"}
    ref = list(profs["cpu-host"].df["unit"])
    for t, p in profs.items():
        assert list(p.df["unit"]) == ref
        if t != "cpu-host":
            assert p.meta["source_kind"] == "modelled" and (p.df["energy_j"] > 0).any()
    assert profs["cim"].meta["cim_allowed_units"] == ["head"]


def test_profile_cli_requires_a_phase_for_llms(capsys):
    from donna_core.cli.main import main

    assert main(["profile", "--model", "gpt2", "--repeats", "1"]) == 2
    assert "--phase" in capsys.readouterr().err
    assert main(["profile", "--model", "vgg8", "--phase", "decode"]) == 2
    assert "LLMs only" in capsys.readouterr().err


def test_profile_model_measures_an_llm_phase(tmp_path):
    """The real GPT-2 decode through the profiler (2 repeats): metadata says what was measured and how."""
    from donna_core.profiling.profiler import profile_model

    prof = profile_model("gpt2", granularity="decode", repeats=2, warmup=0, progress=False, order="interleaved",
                         context=16)
    m = prof.meta
    assert m["phase"] == "decode" and m["context"] == 16 and m["units_reproduce_logits"] is True
    assert m["n_units"] == 14 and (prof.df["time_s"] > 0).all()
    assert prof.df["kv_bytes"].iloc[1] == 2 * 768 * 16 * 4
    assert json.dumps(m)  # serialisable
