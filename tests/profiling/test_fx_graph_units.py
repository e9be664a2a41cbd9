"""Graph units from real models: exact reproduction in any topological order, well-formed edges, chains stay
chains, RandWire determinism."""
from __future__ import annotations

import pytest
import torch

from donna_core.profiling.graph_models import build_graph_model
from donna_core.profiling.graph_units import derive_graph_units
from donna_core.profiling.models import build_model
from donna_core.profiling.randwire import dag_predecessors, watts_strogatz_edges
from donna_core.profiling.units import derive_units


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/profiling/conftest.py


def check_graph_problem_edges(n_units: int, edges) -> None:
    """The problem format's rules for ``edges``: 0-based ints, u < v, bytes > 0, no duplicates."""
    seen = set()
    for e in edges:
        u, v, b = e
        assert isinstance(u, int) and isinstance(v, int) and 0 <= u < v < n_units, e
        assert b > 0, e
        assert (u, v) not in seen, f"duplicate edge {e}"
        seen.add((u, v))


def latest_first_order(n: int, preds: list[list[int]]) -> list[int]:
    """A topological order that always runs the highest-numbered ready unit: it differs from the index order
    wherever the graph has parallel branches."""
    done, order = set(), []
    while len(order) < n:
        ready = [i for i in range(n) if i not in done and all(p in done for p in preds[i])]
        i = max(ready)
        done.add(i)
        order.append(i)
    return order


@pytest.mark.parametrize("name", ["googlenet", "inception_v3", "resnet50", "randwire_n32_s0", "randwire_tiny"])
def test_graph_units_reproduce_the_model_in_any_topological_order(name):
    model, x = build_graph_model(name)
    plan = derive_graph_units(model, x)
    with torch.no_grad():
        ref = model(x)
        assert torch.equal(plan.run(x), ref)
        order = latest_first_order(len(plan.units), plan.predecessors())
        # ResNet's downsample conv fuses with the residual add, so its units have skip edges but no two
        # independent branches: only one topological order
        assert (order != list(range(len(plan.units)))) == (name != "resnet50")
        assert torch.equal(plan.run(x, order=order), ref)
    check_graph_problem_edges(len(plan.units), plan.edges)
    # units without an incoming edge are exactly the ones reading the model input (the problem format's rule)
    has_pred = {v for _, v, _ in plan.edges}
    assert [u.reads_input for u in plan.units] == [i not in has_pred for i in range(len(plan.units))]
    # every unit is one conv/linear op; skip connections / concats make more edges than a chain has
    assert all(u.kind in ("conv", "linear") for u in plan.units)
    assert len(plan.edges) > len(plan.units) - 1


def test_edge_bytes_are_the_tensors_crossing():
    model, x = build_graph_model("googlenet")
    plan = derive_graph_units(model, x)
    names = [u.name for u in plan.units]
    e = {(names[u], names[v]): b for u, v, b in plan.edges}
    # inception3a's input (192 x 28 x 28 fp32 after maxpool2) feeds its 1x1 branch, the two reduce convs and
    # the pool branch (whose max-pool runs in the pool-branch conv's unit)
    for dst in ("inception3a.branch1.conv", "inception3a.branch2.0.conv", "inception3a.branch3.0.conv",
                "inception3a.branch4.1.conv"):
        assert e[("conv3.conv", dst)] == 192 * 28 * 28 * 4
    # the 1x1 branch (64 channels) goes to the concat, which runs with the last branch
    assert e[("inception3a.branch1.conv", "inception3a.branch4.1.conv")] == 64 * 28 * 28 * 4
    # resnet50: a bottleneck's block input reaches its conv1 and its residual add (a skip edge)
    model, x = build_graph_model("resnet50")
    plan = derive_graph_units(model, x)
    names = [u.name for u in plan.units]
    e = {(names[u], names[v]): b for u, v, b in plan.edges}
    assert e[("layer1.0.downsample.0", "layer1.1.conv1")] == 256 * 56 * 56 * 4
    assert e[("layer1.0.downsample.0", "layer1.1.conv3")] == 256 * 56 * 56 * 4


def test_chain_model_as_a_graph_has_exactly_the_chain_edges():
    model, x = build_model("vgg8")
    chain = derive_units(model, x, "layer")
    plan = derive_graph_units(model, x)
    assert [u.name for u in plan.units] == [u.name for u in chain.units]
    assert plan.edges == [(i, i + 1, chain.units[i].out_bytes) for i in range(len(chain.units) - 1)]
    assert [u.macs for u in plan.units] == [u.macs for u in chain.units]
    assert [u.weight_bytes for u in plan.units] == [u.weight_bytes for u in chain.units]
    assert plan.input_bytes == chain.input_bytes


def test_randwire_is_deterministic_by_seed():
    assert watts_strogatz_edges(32, seed=3) == watts_strogatz_edges(32, seed=3)
    assert watts_strogatz_edges(32, seed=3) != watts_strogatz_edges(32, seed=4)
    a, xa = build_graph_model("randwire_n32_s0")
    b, xb = build_graph_model("randwire_n32_s0")
    c, _ = build_graph_model("randwire_n32_s1")
    assert torch.equal(xa, xb)
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)
    assert a.stage.edges != c.stage.edges
    pa, pb = derive_graph_units(a, xa), derive_graph_units(b, xb)
    assert pa.edges == pb.edges and [u.nodes for u in pa.units] == [u.nodes for u in pb.units]


@pytest.mark.parametrize("n,seed", [(32, 0), (64, 1)])
def test_watts_strogatz_graph_shape(n, seed):
    edges = watts_strogatz_edges(n, 4, 0.75, seed)
    # rewiring moves edges but never adds or removes one: n*k/2 edges, no self loops, no duplicates
    assert len(edges) == n * 2 and len(set(edges)) == len(edges) and all(a < b for a, b in edges)
    lattice = {(min(i, (i + j) % n), max(i, (i + j) % n)) for i in range(n) for j in (1, 2)}
    assert len(lattice - set(edges)) > n // 2  # p = 0.75: most lattice edges were rewired
    preds = dag_predecessors(n, edges)
    assert all(p < i for i, pr in enumerate(preds) for p in pr)


def test_randwire_graph_units_follow_the_wiring():
    model, x = build_graph_model("randwire_n32_s0")
    plan = derive_graph_units(model, x)
    names = [u.name for u in plan.units]
    node_unit = {int(nm.split(".")[2]): i for i, nm in enumerate(names) if nm.startswith("stage.nodes.")}
    unit_edges = {(u, v) for u, v, _ in plan.edges}
    for a, b in model.stage.edges:  # every wire of the random graph is an edge between the two nodes' units
        assert (node_unit[a], node_unit[b]) in unit_edges
    # each node's weighted input sum runs in the node's own unit (consumer side): a node sends one tensor
    for i in node_unit.values():
        assert len(plan.units[i].produced) == 1


@pytest.mark.parametrize("n,seed", [(8, s) for s in range(4)] + [(12, 5), (16, 6)])
def test_random_wirings_give_valid_graph_units(n, seed):
    """Many random DAGs (RandWire wirings): units reproduce the model, edges point forward, one unit per node."""
    from donna_core.profiling.randwire import build_randwire

    model, x = build_randwire(n, 8, seed, image=16)
    plan = derive_graph_units(model, x)
    assert len(plan.units) == n + 3  # stem, n nodes, head conv, fc
    check_graph_problem_edges(len(plan.units), plan.edges)
    with torch.no_grad():
        ref = model(x)
        assert torch.equal(plan.run(x), ref)
        assert torch.equal(plan.run(x, order=latest_first_order(len(plan.units), plan.predecessors())), ref)
