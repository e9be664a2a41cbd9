"""Graph partition units: a model's torch.fx graph cut into one unit per heavy op, with its real data edges.

Where :mod:`.units` cuts the node list into contiguous slices (a chain), here every unit is a *set* of fx
nodes and the units form a DAG: skip connections and branch concatenations are edges.  The graph is coarsened
along what inference backends fuse (Moirai's observation: placing un-fused ops separately loses the fusion):

* every conv/linear/attention module call (an *anchor*, :data:`units.ANCHOR_MODULES`) starts a unit;
* a cheap op joins its producer's unit when it is that producer's only consumer and reads nothing else that
  is still unplaced ("chain" fusion: conv + BN +
  ReLU (+ pool), and a residual add + ReLU, which joins the branch whose output only it consumes; a concat
  joins the last of its branches).  Among several such producers it joins the latest one;
* every other cheap op (one that reads a value with several consumers, e.g. GoogLeNet's branch max-pool,
  Inception's branch average pool, RandWire's weighted input sums, or ops on constants only) joins its
  *consumer*: the earliest unit that uses it.

Rules that keep it a DAG in the unit order: a cheap op never joins a unit earlier than any unit it reads from
(if its chain producer is earlier, it goes to its consumer instead), so every edge u -> v has u < v and the
units listed by their anchor's position in the traced graph are a topological order.

Edge ``(u, v, bytes)``: ``bytes`` = sum of the sizes of the distinct values produced in u and read in v (one
tensor in the usual case).  The units with no incoming edge are exactly the ones reading the model input
(checked).  Each unit has a step ``step(env) -> {value name: value}`` of the values it produces for other
units or the model output; running the steps in any topological order reproduces the model exactly.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import torch
from torch import fx, nn

from .units import (GEOMETRY_FIELDS, FxEnvRun, UnitError, UnitStep, anchor_geometry, anchor_kind, anchor_macs,
                    fetch_attr, module_bytes, segment_module, trace_model, value_nbytes)

GRAPH_GRANULARITY = "graph"

_POOL_MODULES = (nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)
_POOL_FUNCTIONS = {torch.nn.functional.max_pool2d, torch.nn.functional.avg_pool2d,
                   torch.nn.functional.adaptive_avg_pool2d, torch.nn.functional.adaptive_max_pool2d,
                   torch.max_pool2d}


@dataclass(frozen=True)
class GraphUnit:
    """One graph unit: an anchor op and the cheap ops fused with it (fx node names in graph order)."""

    index: int
    name: str
    kind: str  # conv | linear | attention
    nodes: tuple[str, ...]
    inputs: tuple[str, ...]  # values it reads from other units or the model input (fx names)
    produced: tuple[str, ...]  # values it gives to other units or to the model output
    reads_input: bool
    out_bytes: int  # bytes of ``produced``
    weight_bytes: int
    macs: int
    pool_after: bool  # a pooling op follows the anchor inside the unit (NeuroSim's per-layer pool flag)
    in_h: int | None = None
    in_w: int | None = None
    in_c: int | None = None
    k_h: int | None = None
    k_w: int | None = None
    out_c: int | None = None
    stride: int | None = None

    def geometry(self) -> dict[str, int | None]:
        return {f: getattr(self, f) for f in GEOMETRY_FIELDS}


@dataclass
class GraphPlan(FxEnvRun):
    """The graph units of one model, their edges, and how to run them."""

    units: list[GraphUnit]
    steps: list[UnitStep]
    edges: list[tuple[int, int, int]]  # (u, v, bytes), sorted
    edge_values: dict[tuple[int, int], tuple[str, ...]]
    input_names: tuple[str, ...]
    input_bytes: int
    graph_module: fx.GraphModule
    granularity: str = GRAPH_GRANULARITY
    _output_arg: Any = field(repr=False, default=None)

    def run(self, *inputs: Any, order: Sequence[int] | None = None) -> Any:
        """Run the units in ``order`` (default: index order; any topological order gives the same output)."""
        env = self.initial_env(*inputs)
        for i in (range(len(self.steps)) if order is None else order):
            env.update(self.steps[i](env))
        return self.output(env)

    def chained_steps(self) -> list:
        """Steps taking and returning the whole environment (updated in place), in index order: the interface
        :func:`profiler.profile_plan` runs unit after unit with."""
        def make(step: UnitStep):
            def run(env: dict[str, Any]) -> dict[str, Any]:
                env.update(step(env))
                return env
            return run
        return [make(s) for s in self.steps]

    def predecessors(self) -> list[list[int]]:
        preds: list[list[int]] = [[] for _ in self.units]
        for u, v, _ in self.edges:
            preds[v].append(u)
        return preds


def _is_pool(n: fx.Node, gm: fx.GraphModule) -> bool:
    if n.op == "call_module":
        return isinstance(gm.get_submodule(n.target), _POOL_MODULES)
    return n.op == "call_function" and n.target in _POOL_FUNCTIONS


def assign_nodes(body: Sequence[fx.Node], anchors: set[fx.Node]) -> dict[fx.Node, int]:
    """Unit index of every node of ``body`` (fx order) by the fusion rules of the module docstring."""
    unit_of: dict[fx.Node, int] = {}
    lower: dict[fx.Node, int] = {}  # the earliest unit a node may join without an edge pointing backwards
    deferred: list[fx.Node] = []
    n_units = 0
    for n in body:
        if n in anchors:
            unit_of[n] = n_units
            n_units += 1
            continue
        ins = [a for a in n.all_input_nodes if a.op not in ("placeholder", "get_attr")]
        lb = max((unit_of[a] if a in unit_of else lower[a] for a in ins), default=-1)
        lower[n] = lb
        chain = [unit_of[a] for a in ins if a in unit_of and len(a.users) == 1]
        # an op that also reads a not-yet-placed value (e.g. weights computed from constants) is consumer-side
        if chain and max(chain) == lb and all(a in unit_of for a in ins):
            unit_of[n] = lb
        else:
            deferred.append(n)
    for n in reversed(deferred):  # consumers first: a deferred node joins the earliest unit that uses it
        cands = [unit_of[u] for u in n.users if u.op != "output"]
        if any(u.op == "output" for u in n.users) or not cands:
            cands.append(max(lower[n], 0))
        unit_of[n] = min(cands)
        if unit_of[n] < lower[n]:  # cannot happen by the rules above; a broken invariant must not pass silently
            raise UnitError(f"node {n.name}: fusion placed it before a unit it reads from")
    return unit_of


def derive_graph_units(model: nn.Module, example_inputs: Any) -> GraphPlan:
    """Trace ``model`` with torch.fx and split it into graph units (see module docstring)."""
    t = trace_model(model, example_inputs)
    gm, placeholders, output_node, body, anchors, rec = t.gm, t.placeholders, t.output_node, t.body, t.anchors, t.rec

    unit_of = assign_nodes(body, set(anchors))
    members: list[list[fx.Node]] = [[] for _ in anchors]
    for n in body:
        members[unit_of[n]].append(n)
    out_vals = set()
    fx.node.map_arg(output_node.args[0], lambda n: out_vals.add(n))

    edge_values: dict[tuple[int, int], list[fx.Node]] = {}
    for v, seg in enumerate(members):
        for n in seg:
            for a in n.all_input_nodes:
                u = unit_of.get(a)
                if u is not None and u != v:
                    vals = edge_values.setdefault((u, v), [])
                    if a not in vals:
                        vals.append(a)
    edges = sorted((u, v, sum(rec.nbytes[a.name] for a in vals)) for (u, v), vals in edge_values.items())

    units: list[GraphUnit] = []
    steps: list[UnitStep] = []
    has_pred = {v for _, v, _ in edges}
    for k, (anchor, seg) in enumerate(zip(anchors, members)):
        seg_set = set(seg)
        live_in: list[fx.Node] = []
        for n in seg:
            for a in n.all_input_nodes:
                if a not in seg_set and a.op != "get_attr" and a not in live_in:
                    live_in.append(a)
        produced = [n for n in seg if n in out_vals or any(unit_of.get(u, k) != k for u in n.users)]
        reads_input = any(a.op == "placeholder" for a in live_in)
        if reads_input == (k in has_pred):
            raise UnitError(f"unit {k} ({anchor.target}) " + ("reads the model input and also another unit's "
                            "output" if reads_input else "reads neither the model input nor another unit")
                            + ": not expressible as a graph problem (units without incoming edges read the input)")
        mod = gm.get_submodule(anchor.target)
        in_shape, out_shape = rec.shapes[anchor.name]
        weights: dict[str, nn.Module] = {n.target: gm.get_submodule(n.target) for n in seg if n.op == "call_module"}
        consts = {a.target for n in seg for a in n.all_input_nodes if a.op == "get_attr"}
        pos = seg.index(anchor)
        units.append(GraphUnit(
            index=k, name=str(anchor.target), kind=anchor_kind(mod), nodes=tuple(n.name for n in seg),
            inputs=tuple(a.name for a in live_in), produced=tuple(n.name for n in produced),
            reads_input=reads_input, out_bytes=int(sum(rec.nbytes[n.name] for n in produced)),
            weight_bytes=int(sum(module_bytes(m) for m in weights.values())
                             + sum(value_nbytes(fetch_attr(gm, t)) for t in consts)),
            macs=int(anchor_macs(mod, in_shape, out_shape)), pool_after=any(_is_pool(n, gm) for n in seg[pos + 1:]),
            **(anchor_geometry(mod, in_shape) or {})))
        steps.append(_build_step(gm, seg, live_in, produced))
    input_bytes = sum(rec.nbytes[n.name] for n in placeholders if n.users)
    return GraphPlan(units=units, steps=steps, edges=edges,
                     edge_values={k: tuple(a.name for a in v) for k, v in sorted(edge_values.items())},
                     input_names=tuple(n.name for n in placeholders), input_bytes=int(input_bytes),
                     graph_module=gm, _output_arg=output_node.args[0])


def _build_step(gm: fx.GraphModule, seg: list[fx.Node], live_in: list[fx.Node], produced: list[fx.Node]) -> UnitStep:
    sub = segment_module(gm, seg, live_in, produced, class_name="GraphUnit")
    return UnitStep(sub, [a.name for a in live_in], [n.name for n in produced], [])


def derive_graph_model_units(name: str) -> tuple[nn.Module, torch.Tensor, GraphPlan]:
    """Build graph model ``name`` (:mod:`.graph_models`) and derive its graph units."""
    from .graph_models import build_graph_model

    model, x = build_graph_model(name)
    return model, x, derive_graph_units(model, x)
