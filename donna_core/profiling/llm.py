"""Decoder LLMs (GPT-2 small, a TinyLlama-1.1B-shaped Llama) and their partition units, per phase.

Models are built from ``transformers`` configurations with random weights (fixed seed); nothing is downloaded.
transformers 5 removed its torch.fx tracer (huggingface/transformers#41683), so the units are cut at *module
boundaries*, not from a traced graph (the fx path in :mod:`units` stays for the CNNs):

* ``embed``   -- token (+ position) embedding, and the per-token context every block needs (position ids,
  causal mask, rotary cos/sin);
* ``block_i`` -- decoder block ``i`` (attention with its KV cache + MLP);
* ``head``    -- final norm + LM head, next-token logits only (``logits_to_keep=1``, as ``generate`` does).

Two phases (profile "granularities"): ``prefill`` runs a prompt of ``S`` tokens and writes the KV cache;
``decode`` runs one token against a KV cache holding ``S`` tokens.  A cut carries only the hidden state
(``S x d x 4`` bytes in prefill, ``d x 4`` in decode): the context (positions, mask, rotary tables) is a function
of the token position that each stage recomputes in a real pipeline, and the KV cache of block ``i`` stays on
the device that runs block ``i`` -- so it counts in that unit's memory, never on a link.

Running the units one after another gives the model's logits bit for bit (tested on small configurations and
checked on the real shapes by the profiler).  Repeated timing of one unit needs the KV cache back at its
starting length, so every block step first *rewinds* its own cache layer (an O(1) reference swap; ``embed``
rewinds all of them, i.e. starts a new token) -- the whole-model reference call does the same.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import pandas as pd
import torch
from torch import nn

from .models import LLM_NAMES, MODEL_SEED, frozen, seeded_build
PHASES: tuple[str, ...] = ("prefill", "decode")
DEFAULT_CONTEXT = 128  # prompt length S of the prefill, KV-cache length of the decode

# Exact shapes (fields of the transformers configs).  GPT-2 small is the 124 M model; "tinyllama" has the
# TinyLlama-1.1B shape (22 layers, hidden 2048, 32 heads, 4 KV heads = grouped-query attention).
_CONFIGS: dict[str, dict[str, Any]] = {
    "gpt2": dict(n_layer=12, n_embd=768, n_head=12, n_positions=1024, vocab_size=50257, n_inner=None),
    "tinyllama": dict(num_hidden_layers=22, hidden_size=2048, num_attention_heads=32, num_key_value_heads=4,
                      intermediate_size=5632, vocab_size=32000, max_position_embeddings=2048,
                      rms_norm_eps=1e-5, tie_word_embeddings=False),
}
# Test-sized configurations: same architecture, a few MB of weights.
_SMALL: dict[str, dict[str, Any]] = {
    "gpt2": dict(n_layer=2, n_embd=64, n_head=4, n_positions=64, vocab_size=101, bos_token_id=None,
                 eos_token_id=None),
    "tinyllama": dict(num_hidden_layers=2, hidden_size=64, num_attention_heads=8, num_key_value_heads=2,
                      intermediate_size=96, vocab_size=101, max_position_embeddings=64, bos_token_id=None,
                      eos_token_id=None),
}

UNIT_KINDS = ("embedding", "decoder_block", "head")


class LLMError(ValueError):
    """Unknown LLM, phase or context length."""


@dataclass(frozen=True)
class LLMShape:
    """The numbers the cost models need, read from the config."""

    name: str
    layers: int
    d: int
    heads: int
    kv_heads: int
    head_dim: int
    ffn: int
    vocab: int
    gated_mlp: bool  # Llama: gate, up, down projections; GPT-2: fc, proj
    positions: int  # rows of a learned position-embedding table (GPT-2), 0 for rotary (Llama)
    tied_head: bool

    def block_linears(self) -> list[tuple[str, int, int]]:
        """(name, in, out) of every weight matrix of one decoder block, in execution order."""
        kv = self.kv_heads * self.head_dim
        attn = [("q", self.d, self.d), ("k", self.d, kv), ("v", self.d, kv), ("o", self.d, self.d)]
        mlp = ([("gate", self.d, self.ffn), ("up", self.d, self.ffn), ("down", self.ffn, self.d)] if self.gated_mlp
               else [("fc", self.d, self.ffn), ("proj", self.ffn, self.d)])
        return attn + mlp


def llm_config(name: str, small: bool = False, **overrides: Any):
    """The transformers config of ``name`` (``small=True``: a test-sized one of the same architecture)."""
    if name not in LLM_NAMES:
        raise LLMError(f"unknown LLM {name!r}; known: {', '.join(LLM_NAMES)}")
    from transformers import GPT2Config, LlamaConfig

    kw = {**(_SMALL if small else _CONFIGS)[name], **overrides}
    # sdpa is the default on CPU; pinned so units and whole model take the same kernels on every host.
    cls = GPT2Config if name == "gpt2" else LlamaConfig
    cfg = cls(**kw)
    cfg._attn_implementation = "sdpa"
    return cfg


def shape_of(config) -> LLMShape:
    """:class:`LLMShape` of a GPT-2 or Llama config."""
    if config.model_type == "gpt2":
        d = config.n_embd
        return LLMShape("gpt2", config.n_layer, d, config.n_head, config.n_head, d // config.n_head,
                        config.n_inner or 4 * d, config.vocab_size, False, config.n_positions, True)
    if config.model_type == "llama":
        d = config.hidden_size
        return LLMShape("llama", config.num_hidden_layers, d, config.num_attention_heads,
                        config.num_key_value_heads, d // config.num_attention_heads, config.intermediate_size,
                        config.vocab_size, True, 0, bool(config.tie_word_embeddings))
    raise LLMError(f"unsupported model_type {config.model_type!r}")


def build_llm(name: str, small: bool = False, seed: int = MODEL_SEED, **overrides: Any) -> nn.Module:
    """``name`` as a causal LM in eval mode, random weights from ``seed`` (the caller's RNG is left alone)."""
    from transformers import GPT2LMHeadModel, LlamaForCausalLM

    cfg = llm_config(name, small, **overrides)
    return frozen(seeded_build(seed, lambda: (GPT2LMHeadModel if name == "gpt2" else LlamaForCausalLM)(cfg)))


def example_tokens(vocab: int, n: int, seed: int = MODEL_SEED) -> torch.Tensor:
    """``n`` random token ids, shape (1, n), deterministic."""
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, vocab, (1, n), generator=g)


# --------------------------------------------------------------------------------------------------- units
@dataclass(frozen=True)
class LLMUnit:
    """One partition unit of an LLM in one phase (bytes for fp32, MACs of this phase's forward)."""

    index: int
    name: str
    kind: str  # embedding | decoder_block | head
    out_bytes: int  # hidden state crossing the cut after this unit (head: the logits)
    weight_bytes: int
    kv_bytes: int  # KV cache this unit holds at context S (blocks only)
    macs: int  # all multiply-accumulates
    act_macs: int  # activation x activation MACs (QK^T, AV): not weight-stationary, CIM crossbars cannot run them


def unit_costs(shape: LLMShape, phase: str, context: int, dtype_bytes: int = 4) -> list[LLMUnit]:
    """The units of a model of ``shape`` in ``phase`` at context ``context``, analytically (no model built)."""
    check_phase(phase, context)
    s = context
    q = s if phase == "prefill" else 1  # tokens this forward computes
    kv_len = s if phase == "prefill" else s + 1  # keys each query attends over (the masked ones are computed too)
    d = shape.d
    emb_w = (shape.vocab + shape.positions) * d
    norm_w = (2 if shape.name == "gpt2" else 1) * d  # LayerNorm has a bias, RMSNorm not
    block_mats = sum(i * o for _, i, o in shape.block_linears())
    block_bias = (sum(o for _, _, o in shape.block_linears()) + 2 * 2 * d) if shape.name == "gpt2" else 2 * d
    kv = 2 * shape.kv_heads * shape.head_dim * s * dtype_bytes
    act = 2 * q * kv_len * shape.heads * shape.head_dim
    units = [LLMUnit(0, "embed", "embedding", q * d * dtype_bytes, emb_w * dtype_bytes, 0, 0, 0)]
    for i in range(shape.layers):
        units.append(LLMUnit(i + 1, f"block_{i}", "decoder_block", q * d * dtype_bytes,
                             (block_mats + block_bias) * dtype_bytes, kv, q * block_mats + act, act))
    units.append(LLMUnit(shape.layers + 1, "head", "head", shape.vocab * dtype_bytes,
                         (norm_w + shape.vocab * d) * dtype_bytes, 0, d * shape.vocab, 0))
    return units


def max_context(name: str, phase: str) -> int:
    """The longest context ``name`` takes in ``phase``: GPT-2 has a learned table of ``n_positions`` positions,
    TinyLlama's config states ``max_position_embeddings``; a decode step adds one token to the cache."""
    cfg = _CONFIGS[name]
    positions = cfg.get("n_positions") or cfg["max_position_embeddings"]
    return positions - (1 if phase == "decode" else 0)


def check_phase(phase: str, context: int) -> None:
    if phase not in PHASES:
        raise LLMError(f"phase must be one of {', '.join(PHASES)}, got {phase!r}")
    if isinstance(context, bool) or not isinstance(context, int) or context < 1:
        raise LLMError(f"context length must be a positive integer, got {context!r}")


def unit_frame(units: list[LLMUnit]) -> pd.DataFrame:
    """Profile table columns for LLM units (geometry empty: a block is several matrices, see ``block_linears``)."""
    from .units import GEOMETRY_FIELDS

    rows = [{"unit": u.name, "kind": u.kind, "out_bytes": u.out_bytes, "weight_bytes": u.weight_bytes,
             "macs": u.macs, **{g: pd.NA for g in GEOMETRY_FIELDS}, "kv_bytes": u.kv_bytes, "act_macs": u.act_macs}
            for u in units]
    df = pd.DataFrame(rows)
    for c in ("out_bytes", "weight_bytes", "macs", *GEOMETRY_FIELDS, "kv_bytes", "act_macs"):
        df[c] = df[c].astype("Int64")
    return df


# --------------------------------------------------------------------------------------------- execution
def _rewind(layer, kv: tuple[torch.Tensor, torch.Tensor] | None) -> None:
    """Put one DynamicLayer of the cache back to ``kv`` (None: empty); the stored tensors are never mutated."""
    if kv is None:
        layer.keys = layer.values = None
        layer.is_initialized = False
    else:
        layer.keys, layer.values = kv
        layer.is_initialized = True


@dataclass
class LLMPlan:
    """Units of one model in one phase and how to run them: ``steps[i](env) -> env``, env = {"h", "ctx"}.

    ``whole(x)`` is the model's own forward in the same state (the reference for exactness and timing).
    Duck-types :class:`units.UnitPlan` for :func:`profiler.profile_plan`.
    """

    name: str
    phase: str
    context: int
    units: list[LLMUnit]
    steps: list[Callable[[dict[str, Any]], dict[str, Any]]]
    whole: Callable[[torch.Tensor], torch.Tensor]
    tokens: torch.Tensor  # the phase's input ids
    input_bytes: int
    shape: LLMShape = field(repr=False, default=None)

    def initial_env(self, x: torch.Tensor) -> dict[str, Any]:
        return {"ids": x}

    def output(self, env: dict[str, Any]) -> torch.Tensor:
        return env["h"]

    def run(self, x: torch.Tensor) -> torch.Tensor:
        env = self.initial_env(x)
        for step in self.steps:
            env = step(env)
        return self.output(env)


def build_plan(model: nn.Module, phase: str, context: int = DEFAULT_CONTEXT, name: str | None = None) -> LLMPlan:
    """Units of ``model`` (a GPT-2 or Llama causal LM) for ``phase`` at context ``context``.

    For ``decode`` the prompt (``context`` tokens) is prefilled once here, untimed, to fill the KV cache.
    """
    from transformers import DynamicCache
    from transformers.masking_utils import create_causal_mask

    check_phase(phase, context)
    cfg = model.config
    shape = shape_of(cfg)
    is_gpt2 = shape.name == "gpt2"
    core = model.transformer if is_gpt2 else model.model
    blocks = list(core.h if is_gpt2 else core.layers)
    prompt = example_tokens(shape.vocab, context)
    cache = DynamicCache(config=cfg)
    if phase == "decode":
        with torch.no_grad():
            model(input_ids=prompt, cache=cache, use_cache=True, logits_to_keep=1)
        start = [(cache.layers[i].keys, cache.layers[i].values) for i in range(len(blocks))]
        tokens = example_tokens(shape.vocab, 1, seed=MODEL_SEED + 1)
    else:
        start = [None] * len(blocks)
        tokens = prompt
    past = 0 if phase == "prefill" else context

    def rewind_all() -> None:
        for i in range(len(blocks)):
            _rewind(cache.layers[i], start[i])

    def embed(env: dict[str, Any]) -> dict[str, Any]:
        rewind_all()  # a new forward starts: every block's cache back to its starting length
        ids = env["ids"]
        x = core.wte(ids) if is_gpt2 else core.embed_tokens(ids)
        pos = (torch.arange(x.shape[1]) + past).unsqueeze(0)
        mask = create_causal_mask(config=cfg, inputs_embeds=x, attention_mask=None, cache=cache, position_ids=pos)
        if is_gpt2:
            h = core.drop(x + core.wpe(pos))
            ctx = {"pos": pos, "mask": mask}
        else:
            h = x
            ctx = {"pos": pos, "mask": mask, "rope": core.rotary_emb(h, position_ids=pos)}
        return {"h": h, "ctx": ctx}

    def block_step(i: int) -> Callable[[dict[str, Any]], dict[str, Any]]:
        blk = blocks[i]

        def step(env: dict[str, Any]) -> dict[str, Any]:
            _rewind(cache.layers[i], start[i])
            c = env["ctx"]
            if is_gpt2:
                h = blk(env["h"], cache, c["mask"], None, encoder_attention_mask=None, use_cache=True,
                        position_ids=c["pos"])
            else:
                h = blk(env["h"], attention_mask=c["mask"], position_embeddings=c["rope"], position_ids=c["pos"],
                        cache=cache, use_cache=True)
            return {"h": h, "ctx": c}
        return step

    def head(env: dict[str, Any]) -> dict[str, Any]:
        h = core.ln_f(env["h"]) if is_gpt2 else core.norm(env["h"])
        return {"h": model.lm_head(h[:, -1:, :]), "ctx": env["ctx"]}

    def whole(ids: torch.Tensor) -> torch.Tensor:
        rewind_all()
        return model(input_ids=ids, cache=cache, use_cache=True, logits_to_keep=1).logits

    steps = [embed] + [block_step(i) for i in range(len(blocks))] + [head]
    units = unit_costs(shape, phase, context)
    return LLMPlan(name or shape.name, phase, context, units, steps, whole, tokens,
                   tokens.numel() * tokens.element_size(), shape)


def param_bytes_per_unit(model: nn.Module) -> list[int]:
    """Parameter bytes of embed / each block / head, from the model itself (checks :func:`unit_costs`)."""
    cfg = model.config
    is_gpt2 = cfg.model_type == "gpt2"
    core = model.transformer if is_gpt2 else model.model

    def nbytes(*mods: nn.Module) -> int:
        return sum(p.numel() * p.element_size() for m in mods for p in m.parameters())

    emb = nbytes(core.wte, core.wpe) if is_gpt2 else nbytes(core.embed_tokens)
    blocks = [nbytes(b) for b in (core.h if is_gpt2 else core.layers)]
    # A tied LM head is stored once in the model, but a pipeline stage running the head needs its own copy.
    head = nbytes(core.ln_f if is_gpt2 else core.norm) + model.lm_head.weight.numel() * 4
    return [emb, *blocks, head]
