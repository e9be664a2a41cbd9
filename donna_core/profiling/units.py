"""Partition units derived automatically from a model's torch.fx graph.

A *unit* is a contiguous slice of the traced graph's node list (which is a topological order, and the order the
model's own ``forward`` executes), so any sequence of units is a valid pipeline: everything a unit reads was
produced by an earlier unit or is the model input.  Two granularities:

* ``layer`` -- one unit per heavy op (``nn.Conv*``, ``nn.Linear``, ``nn.MultiheadAttention``, the "anchors")
  together with the cheap ops around it.  The cut between two consecutive anchors can sit anywhere in the run of
  cheap ops between them; we place it where the fewest bytes are live (ties: as late as possible, i.e. cheap
  ops stay with the anchor they follow, as the paper counts layers).  So a VGG conv unit is conv+ReLU(+pool), a
  ResNet bottleneck gives conv1, conv2, conv3(+add+ReLU), and downsample(+add+ReLU) units in that order.
* ``block`` -- the layer cuts that exactly one tensor crosses (between ResNet bottlenecks, between transformer
  sub-blocks); each block is a run of consecutive layer units (``layer_first``..``layer_last``).

``out_bytes`` of a unit counts every value live across the cut after it (residual skip tensors included),
using each tensor's real dtype size.  Each unit also gets a callable that takes and returns the live-value
environment (``dict`` name -> value), so running the steps one after another reproduces the model exactly.
"""
from __future__ import annotations

import operator
from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

import pandas as pd
import torch
from torch import fx, nn

GRANULARITIES: tuple[str, ...] = ("layer", "block")

# Modules whose call is a "layer" in the paper's sense (a matrix op a CIM crossbar or a GEMM kernel runs).
ANCHOR_MODULES: tuple[type, ...] = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear, nn.MultiheadAttention)

GEOMETRY_FIELDS: tuple[str, ...] = ("in_h", "in_w", "in_c", "k_h", "k_w", "out_c", "stride")

# In-place builtins: a unit that applies one of these to a value it received must not mutate its caller's copy.
_INPLACE_FUNCTIONS = {operator.iadd, operator.isub, operator.imul, operator.itruediv, operator.iand, operator.ior}


class UnitError(ValueError):
    """The model cannot be split into units (untraceable, no conv/linear/attention op, bad granularity)."""


@dataclass(frozen=True)
class Unit:
    """One partition unit: a contiguous slice of the traced graph (see module docstring)."""

    index: int
    name: str
    kind: str  # conv | linear | attention | block
    nodes: tuple[str, ...]  # fx node names, in execution order
    live_out: tuple[str, ...]  # fx names of the values live across the cut after this unit
    out_bytes: int  # bytes of all those values
    weight_bytes: int  # parameters + buffers of the modules it calls, + constants it reads
    macs: int  # multiply-accumulates of its conv/linear/attention ops (cheap ops not counted)
    in_h: int | None = None
    in_w: int | None = None
    in_c: int | None = None
    k_h: int | None = None
    k_w: int | None = None
    out_c: int | None = None
    stride: int | None = None
    groups: int | None = None  # largest conv groups in the unit (depthwise: = in_c); 1: dense convs/linear only
    layer_first: int | None = None  # block units: first/last index into the same model's layer units
    layer_last: int | None = None

    def geometry(self) -> dict[str, int | None]:
        return {f: getattr(self, f) for f in GEOMETRY_FIELDS}


class UnitStep:
    """Runs one unit: ``step(env) -> env'`` where env maps fx value names to live values at a cut."""

    def __init__(self, module: fx.GraphModule, in_names: Sequence[str], produced: Sequence[str],
                 passthrough: Sequence[str]):
        self.module = module
        self.in_names = tuple(in_names)
        self.produced = tuple(produced)
        self.passthrough = tuple(passthrough)

    def __call__(self, env: dict[str, Any]) -> dict[str, Any]:
        vals = self.module(*[env[k] for k in self.in_names])
        out = {k: env[k] for k in self.passthrough}
        out.update(zip(self.produced, vals))
        return out


class FxEnvRun:
    """The live-value environment of a traced model's units (shared by chain and graph units): the model inputs
    by placeholder name, and the model output read back from it. Needs ``input_names`` and ``_output_arg``."""

    input_names: tuple[str, ...]
    _output_arg: Any

    def initial_env(self, *inputs: Any) -> dict[str, Any]:
        if len(inputs) != len(self.input_names):
            raise UnitError(f"model takes {len(self.input_names)} input(s) {self.input_names}, got {len(inputs)}")
        return dict(zip(self.input_names, inputs))

    def output(self, env: dict[str, Any]) -> Any:
        """The model's output, from the environment after the last unit."""
        return fx.node.map_arg(self._output_arg, lambda n: env[n.name])

    def output_values(self) -> tuple[str, ...]:
        """fx names of the values the model output is built from."""
        names: list[str] = []
        fx.node.map_arg(self._output_arg, lambda n: names.append(n.name))
        return tuple(names)


@dataclass
class UnitPlan(FxEnvRun):
    """The units of one model at one granularity, and how to run them in sequence."""

    granularity: str
    units: list[Unit]
    steps: list[UnitStep]
    input_names: tuple[str, ...]
    input_bytes: int
    graph_module: fx.GraphModule
    _output_arg: Any = field(repr=False, default=None)

    def run(self, *inputs: Any) -> Any:
        """Run all units one after another; equals ``model(*inputs)`` exactly."""
        env = self.initial_env(*inputs)
        for step in self.steps:
            env = step(env)
        return self.output(env)


def value_nbytes(v: Any) -> int:
    """Bytes of a live value: tensors by numel x element size; Python scalars as 8 bytes; containers summed."""
    if isinstance(v, torch.Tensor):
        return v.numel() * v.element_size()
    if isinstance(v, (list, tuple)):
        return sum(value_nbytes(x) for x in v)
    if isinstance(v, dict):
        return sum(value_nbytes(x) for x in v.values())
    if v is None:
        return 0
    if isinstance(v, (bool, int, float, complex)):
        return 8
    return 0


class _Recorder(fx.Interpreter):
    """Runs the graph once, keeping only each value's byte size and the input/output shapes of anchors (and the
    MACs of the conv/linear modules inside an opaque module anchor)."""

    def __init__(self, gm: fx.GraphModule, anchors: set[str], opaque: set[str] = frozenset()):
        super().__init__(gm)
        self.nbytes: dict[str, int] = {}
        self.shapes: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {}
        self.inner_macs: dict[str, int] = {}
        self.anchors = anchors
        self.opaque = opaque

    def run_node(self, n: fx.Node) -> Any:
        if n.op == "call_module" and n.target in self.opaque:
            result = self._run_counting(n)
        else:
            result = super().run_node(n)
        self.nbytes[n.name] = value_nbytes(result)
        if n.name in self.anchors:
            first = n.args[0] if n.args else next(iter(n.kwargs.values()))  # input passed by keyword
            arg = self.env[first] if isinstance(first, fx.Node) else first
            out = result[0] if isinstance(result, tuple) else result
            self.shapes[n.name] = (tuple(arg.shape), tuple(out.shape))
        return result

    def _run_counting(self, n: fx.Node) -> Any:
        total = [0]

        def hook(mod, inp, out):
            o = out[0] if isinstance(out, tuple) else out
            total[0] += _anchor_macs(mod, tuple(inp[0].shape), tuple(o.shape))

        handles = [m.register_forward_hook(hook) for m in self.module.get_submodule(n.target).modules()
                   if isinstance(m, ANCHOR_MODULES)]
        try:
            result = super().run_node(n)
        finally:
            for h in handles:
                h.remove()
        self.inner_macs[n.name] = total[0]
        return result


class _LeafTracer(fx.Tracer):
    """fx tracing that keeps the modules named in ``leaves`` as single opaque calls."""

    def __init__(self, leaves: frozenset[str]):
        super().__init__()
        self.leaves = leaves

    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        return qualname in self.leaves or super().is_leaf_module(m, qualname)


@dataclass
class Traced:
    """A model traced by torch.fx and run once on its example inputs, recording value sizes and anchor shapes."""

    gm: fx.GraphModule
    placeholders: list[fx.Node]
    output_node: fx.Node
    body: list[fx.Node]      # call_module / call_function / call_method nodes, in graph order
    anchors: list[fx.Node]
    rec: _Recorder


def trace_model(model: nn.Module, example_inputs: Any, opaque: frozenset[str] = frozenset()) -> Traced:
    """Trace ``model`` (submodules named in ``opaque`` stay single opaque calls and anchor units), find the anchors
    and run it once on ``example_inputs``. ``UnitError`` when it cannot be traced or has no anchor."""
    inputs = example_inputs if isinstance(example_inputs, (tuple, list)) else (example_inputs,)
    try:
        if opaque:
            tracer = _LeafTracer(frozenset(opaque))
            gm = fx.GraphModule(model, tracer.trace(model), type(model).__name__)
        else:
            gm = fx.symbolic_trace(model)
    except Exception as exc:  # fx raises many kinds (TraceError, TypeError on data-dependent control flow, ...)
        raise UnitError(f"model {type(model).__name__} is not traceable by torch.fx: {exc}") from exc
    gm.eval()
    all_nodes = list(gm.graph.nodes)
    # get_attr nodes (constants such as ViT's class token) are re-read by every unit that uses them, so they are
    # never live across a cut; their bytes count as weights.
    body = [n for n in all_nodes if n.op in ("call_module", "call_function", "call_method")]
    anchors = [n for n in body if n.op == "call_module" and (n.target in opaque or isinstance(
        gm.get_submodule(n.target), ANCHOR_MODULES))]
    if not anchors:
        raise UnitError(f"model {type(model).__name__} has no conv/linear/attention module to anchor units on")
    rec = _Recorder(gm, {a.name for a in anchors}, set(opaque))
    with torch.no_grad():
        rec.run(*inputs)
    return Traced(gm, [n for n in all_nodes if n.op == "placeholder"],
                  next(n for n in all_nodes if n.op == "output"), body, anchors, rec)


def _module_bytes(m: nn.Module) -> int:
    return sum(t.numel() * t.element_size() for t in list(m.parameters()) + list(m.buffers()))


def _anchor_macs(mod: nn.Module, in_shape: tuple[int, ...], out_shape: tuple[int, ...]) -> int:
    numel_out = 1
    for s in out_shape:
        numel_out *= s
    if isinstance(mod, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
        k = 1
        for s in mod.kernel_size:
            k *= s
        return numel_out * (mod.in_channels // mod.groups) * k
    if isinstance(mod, nn.Linear):
        return numel_out * mod.in_features
    if isinstance(mod, nn.MultiheadAttention):
        e = mod.embed_dim
        if len(in_shape) == 3:
            n, t = (in_shape[0], in_shape[1]) if mod.batch_first else (in_shape[1], in_shape[0])
        else:  # unbatched (T, E)
            n, t = 1, in_shape[0]
        # Q/K/V projections + QK^T + softmax(.)V + output projection (self-attention, Tq = Tk = t).
        return n * (3 * t * e * e + 2 * t * t * e + t * e * e)
    return 0


def _anchor_geometry(mod: nn.Module, in_shape: tuple[int, ...]) -> dict[str, int] | None:
    if isinstance(mod, nn.Conv2d):
        return dict(in_h=int(in_shape[-2]), in_w=int(in_shape[-1]), in_c=int(in_shape[-3]),
                    k_h=int(mod.kernel_size[0]), k_w=int(mod.kernel_size[1]), out_c=int(mod.out_channels),
                    stride=int(mod.stride[0]))
    if isinstance(mod, nn.Linear):
        # A fully connected layer is a 1x1 input feature map with a 1x1 kernel, as NeuroSim's network files do.
        return dict(in_h=1, in_w=1, in_c=int(mod.in_features), k_h=1, k_w=1, out_c=int(mod.out_features), stride=1)
    return None


def _anchor_groups(mod: nn.Module) -> int | None:
    if isinstance(mod, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
        return int(mod.groups)
    return 1 if isinstance(mod, nn.Linear) else None


def _anchor_kind(mod: nn.Module) -> str:
    if isinstance(mod, nn.Linear):
        return "linear"
    if isinstance(mod, nn.MultiheadAttention):
        return "attention"
    return "conv"


def _mutates(n: fx.Node, gm: fx.GraphModule) -> fx.Node | None:
    """The input node ``n`` modifies in place, if any."""
    first = n.args[0] if n.args and isinstance(n.args[0], fx.Node) else None
    if first is None:
        return None
    if n.op == "call_module" and getattr(gm.get_submodule(n.target), "inplace", False):
        return first
    if n.op == "call_function" and (n.target in _INPLACE_FUNCTIONS or n.kwargs.get("inplace", False)):
        return first
    if n.op == "call_method" and isinstance(n.target, str) and n.target.endswith("_") and not n.target.startswith("_"):
        return first
    return None


def _common_prefix(names: Sequence[str]) -> str:
    parts = [n.split(".") for n in names]
    out = []
    for tokens in zip(*parts):
        if all(t == tokens[0] for t in tokens):
            out.append(tokens[0])
        else:
            break
    return ".".join(out)


def derive_units(model: nn.Module, example_inputs: Any, granularity: str = "layer",
                 opaque: frozenset[str] = frozenset()) -> UnitPlan:
    """Trace ``model`` with torch.fx and split it into units at ``granularity`` (``layer`` or ``block``).

    ``opaque``: qualified names of submodules fx must not trace into; each call of one is an anchor of kind
    ``module`` (no geometry; MACs of the conv/linear modules inside it) -- the module-boundary fallback."""
    if granularity not in GRANULARITIES:
        raise UnitError(f"granularity must be one of {GRANULARITIES}, got {granularity!r}")
    t = trace_model(model, example_inputs, opaque)
    gm, placeholders, output_node, body, anchors, rec = t.gm, t.placeholders, t.output_node, t.body, t.anchors, t.rec
    pos = {n: i for i, n in enumerate(body)}

    end = len(body)  # position of the output node
    last_use: dict[fx.Node, int] = {}
    def_pos: dict[fx.Node, int] = {}
    for n in placeholders + body:
        def_pos[n] = pos.get(n, -1)
        uses = [pos[u] if u in pos else end for u in n.users if u.op != "get_attr"]
        last_use[n] = max(uses) if uses else def_pos[n]

    def live_after(p: int) -> list[fx.Node]:
        return [n for n in placeholders + body if def_pos[n] <= p < last_use[n]]

    def live_bytes(p: int) -> int:
        return sum(rec.nbytes[n.name] for n in live_after(p))

    # Layer cuts: between consecutive anchors, at the cheapest position (ties -> latest).
    apos = [pos[a] for a in anchors]
    cut_after: list[int] = []
    for k in range(len(anchors) - 1):
        best = min(range(apos[k], apos[k + 1]), key=lambda p: (live_bytes(p), -p))
        cut_after.append(best)
    cut_after.append(end - 1)

    if granularity == "layer":
        groups = [(k, k) for k in range(len(anchors))]
    else:
        groups = []
        first = 0
        for k, p in enumerate(cut_after):
            live = live_after(p)
            single = len(live) == 1 and rec.nbytes[live[0].name] > 0
            if single or k == len(cut_after) - 1:
                groups.append((first, k))
                first = k + 1

    units: list[Unit] = []
    steps: list[UnitStep] = []
    layer_names = [a.target for a in anchors]
    for ui, (lf, ll) in enumerate(groups):
        start = 0 if lf == 0 else cut_after[lf - 1] + 1
        stop = cut_after[ll]
        seg = body[start: stop + 1]
        seg_set = set(seg)
        seg_anchors = anchors[lf: ll + 1]
        live_out = live_after(stop)

        weight_modules: dict[str, nn.Module] = {}
        const_bytes = 0
        seen_attrs: set[str] = set()
        macs = 0
        geometry: dict[str, int] | None = None
        groups: int | None = None
        for n in seg:
            if n.op == "call_module":
                weight_modules[n.target] = gm.get_submodule(n.target)
            for a in n.all_input_nodes:
                if a.op == "get_attr" and a.target not in seen_attrs:
                    seen_attrs.add(a.target)
                    const_bytes += value_nbytes(_fetch_attr(gm, a.target))
        for a in seg_anchors:
            mod = gm.get_submodule(a.target)
            in_shape, out_shape = rec.shapes[a.name]
            macs += rec.inner_macs[a.name] if a.target in opaque else _anchor_macs(mod, in_shape, out_shape)
            if geometry is None and a.target not in opaque:
                geometry = _anchor_geometry(mod, in_shape)
            g = None if a.target in opaque else _anchor_groups(mod)
            if g is not None:  # the largest groups of the unit's convs: a block is grouped if any conv in it is
                groups = max(groups or 1, g)
        weight_bytes = sum(_module_bytes(m) for m in weight_modules.values()) + const_bytes

        if granularity == "layer" or lf == ll:
            name = layer_names[lf]
            kind = "module" if anchors[lf].target in opaque else _anchor_kind(gm.get_submodule(anchors[lf].target))
        else:
            name = _common_prefix(layer_names[lf: ll + 1])
            kind = "block"
        units.append(Unit(
            index=ui, name=name, kind=kind, nodes=tuple(n.name for n in seg),
            live_out=tuple(n.name for n in live_out), out_bytes=sum(rec.nbytes[n.name] for n in live_out),
            weight_bytes=int(weight_bytes), macs=int(macs), **(geometry or {}), groups=groups,
            layer_first=lf if granularity == "block" else None, layer_last=ll if granularity == "block" else None,
        ))
        steps.append(_build_step(gm, seg, seg_set, live_out))

    units = _dedupe_names(units, [layer_names[u.layer_first] + ".." + layer_names[u.layer_last]
                                  if u.layer_first is not None else u.name for u in units])
    input_bytes = sum(rec.nbytes[n.name] for n in placeholders if last_use[n] > -1)
    return UnitPlan(granularity=granularity, units=units, steps=steps,
                    input_names=tuple(n.name for n in placeholders), input_bytes=int(input_bytes),
                    graph_module=gm, _output_arg=output_node.args[0])


def _fetch_attr(gm: fx.GraphModule, target: str) -> Any:
    obj: Any = gm
    for part in target.split("."):
        obj = getattr(obj, part)
    return obj


def _dedupe_names(units: list[Unit], fallbacks: list[str]) -> list[Unit]:
    """Block names are module-path prefixes; where two blocks share one (or it is empty) use 'first..last'."""
    counts: dict[str, int] = {}
    for u in units:
        counts[u.name] = counts.get(u.name, 0) + 1
    out = []
    for u, fb in zip(units, fallbacks):
        if counts[u.name] > 1 or not u.name:
            u = Unit(**{**asdict(u), "name": fb})
        out.append(u)
    names = [u.name for u in out]
    if len(set(names)) != len(names):  # only possible for a module called twice at layer granularity
        out = [Unit(**{**asdict(u), "name": f"{u.name}#{u.index}"}) for u in out]
    return out


def segment_module(gm: fx.GraphModule, seg: list[fx.Node], live_in: list[fx.Node], produced: list[fx.Node],
                   class_name: str = "Unit") -> fx.GraphModule:
    """The nodes ``seg`` of ``gm`` as a module of their own (eval mode): placeholders for ``live_in``, a tuple of
    ``produced`` as output; chain units and graph units are cut out by this one rule."""
    mutated = {m for n in seg if (m := _mutates(n, gm)) is not None and m in live_in}
    g = fx.Graph()
    env: dict[fx.Node, fx.Node] = {}
    for a in live_in:
        ph = g.placeholder(a.name)
        # A unit must not modify the values it is given (the profiler re-runs it on the same inputs); in a real
        # pipeline the received tensor is a fresh buffer, so this copy is a measurement artefact (rare: ResNet
        # downsample units only).
        env[a] = g.call_method("clone", (ph,)) if a in mutated else ph
    for n in seg:
        for a in n.all_input_nodes:
            if a.op == "get_attr" and a not in env:
                env[a] = g.node_copy(a)
        env[n] = g.node_copy(n, lambda a: env[a])
    g.output(tuple(env[n] for n in produced))
    sub = fx.GraphModule(gm, g, class_name=class_name)
    sub.eval()
    return sub


def _build_step(gm: fx.GraphModule, seg: list[fx.Node], seg_set: set[fx.Node], live_out: list[fx.Node]) -> UnitStep:
    live_in: list[fx.Node] = []
    for n in seg:
        for a in n.all_input_nodes:
            if a not in seg_set and a.op != "get_attr" and a not in live_in:
                live_in.append(a)
    produced = [n for n in live_out if n in seg_set]
    sub = segment_module(gm, seg, live_in, produced)
    return UnitStep(sub, [a.name for a in live_in], [n.name for n in produced],
                    [n.name for n in live_out if n not in seg_set])


UNIT_COLUMNS: tuple[str, ...] = ("unit", "kind", "out_bytes", "weight_bytes", "macs") + GEOMETRY_FIELDS


def unit_table(units: Sequence[Unit]) -> pd.DataFrame:
    """One row per unit: name, kind, bytes, MACs, geometry (nullable ints) and, for blocks, layer_first/last."""
    rows = []
    has_layers = any(u.layer_first is not None for u in units)
    # a ``groups`` column only for models with grouped/depthwise convs, so other models' tables stay as they were
    grouped = any((u.groups or 1) > 1 for u in units)
    for u in units:
        row = {"unit": u.name, "kind": u.kind, "out_bytes": u.out_bytes, "weight_bytes": u.weight_bytes,
               "macs": u.macs, **u.geometry()}
        if has_layers:
            row["layer_first"] = u.layer_first
            row["layer_last"] = u.layer_last
        if grouped:
            row["groups"] = u.groups
        rows.append(row)
    cols = list(UNIT_COLUMNS) + (["layer_first", "layer_last"] if has_layers else []) + (["groups"] if grouped else [])
    df = pd.DataFrame(rows, columns=cols)
    for c in cols[2:]:
        df[c] = df[c].astype("Int64")
    return df


def derive_model_units(name: str, granularity: str = "layer") -> tuple[nn.Module, torch.Tensor, UnitPlan]:
    """Build zoo model ``name`` and derive its units; returns (model, example input, plan)."""
    from .models import build_model

    model, x = build_model(name)
    return model, x, derive_units(model, x, granularity)


# The same rules under public names, for the graph units (graph_units.py): one home for each rule.
anchor_macs = _anchor_macs
anchor_geometry = _anchor_geometry
anchor_kind = _anchor_kind
module_bytes = _module_bytes
fetch_attr = _fetch_attr
