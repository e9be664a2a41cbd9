"""Partition units derived by torch.fx: exact sequential reproduction, counts, order, cut bytes."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from donna_core.profiling.models import MODEL_NAMES, UnknownModelError, build_model, input_bytes
from donna_core.profiling.units import UnitError, derive_units, unit_table


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/profiling/conftest.py


@pytest.fixture(scope="module")
def zoo():
    """Each zoo model built once per test module (VGG19 initialisation alone takes seconds)."""
    cache = {}

    def get(name):
        if name not in cache:
            cache[name] = build_model(name)
        return cache[name]

    return get


@pytest.fixture(scope="module")
def reference(zoo):
    cache = {}

    def get(name):
        if name not in cache:
            model, x = zoo(name)
            with torch.no_grad():
                cache[name] = model(x)
        return cache[name]

    return get


@pytest.fixture(scope="module")
def plans(zoo):
    cache = {}

    def get(name, granularity):
        if (name, granularity) not in cache:
            model, x = zoo(name)
            cache[(name, granularity)] = derive_units(model, x, granularity)
        return cache[(name, granularity)]

    return get


@pytest.mark.parametrize("granularity", ["layer", "block"])
@pytest.mark.parametrize("name", MODEL_NAMES)
def test_units_in_sequence_reproduce_model_exactly(zoo, plans, reference, name, granularity):
    model, x = zoo(name)
    plan = plans(name, granularity)
    ref = reference(name)
    with torch.no_grad():
        out = plan.run(x)
    assert out.shape == ref.shape
    assert torch.equal(out, ref), f"{name}/{granularity}: max diff {(out - ref).abs().max().item()}"


def _anchor_modules(model):
    return [n for n, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


@pytest.mark.parametrize("name,count", [("vgg8", 8), ("vgg19", 19), ("resnet152", 156)])
def test_layer_units_are_one_conv_or_linear_each_in_module_order(zoo, plans, name, count):
    model, _ = zoo(name)
    plan = plans(name, "layer")
    assert len(plan.units) == count
    gm = plan.graph_module
    node_by_name = {n.name: n for n in gm.graph.nodes}
    per_unit = []
    for u in plan.units:
        heavy = [node_by_name[n].target for n in u.nodes if node_by_name[n].op == "call_module"
                 and isinstance(gm.get_submodule(node_by_name[n].target), (nn.Conv2d, nn.Linear))]
        assert len(heavy) == 1, f"unit {u.name} holds {heavy}"
        assert u.name == heavy[0]
        per_unit.append(heavy[0])
    # named_modules order is conv1, conv2, conv3, downsample.0 in each bottleneck: NeuroSim's row order.
    assert per_unit == _anchor_modules(model)


def test_resnet152_bottleneck_order_and_residual_cut_bytes(plans):
    units = plans("resnet152", "layer").units
    names = [u.name for u in units]
    assert names[:6] == ["conv1", "layer1.0.conv1", "layer1.0.conv2", "layer1.0.conv3", "layer1.0.downsample.0",
                         "layer1.1.conv1"]
    assert names[-1] == "fc"
    f32 = 4
    # After layer1.0.conv1 (+bn+relu): its 64x56x56 output AND the block input (64x56x56, skip to downsample).
    assert units[1].out_bytes == 2 * 64 * 56 * 56 * f32
    assert len(units[1].live_out) == 2
    # After conv3 of a downsample block: bn3 output (256x56x56) + block input (64x56x56) for the downsample.
    assert units[3].out_bytes == (256 + 64) * 56 * 56 * f32
    # After the downsample unit (+add+relu): only the block output.
    assert units[4].out_bytes == 256 * 56 * 56 * f32 and len(units[4].live_out) == 1
    # Stem: conv1+bn+relu+maxpool -> 64x56x56.
    assert units[0].out_bytes == 64 * 56 * 56 * f32
    assert units[0].geometry() == dict(in_h=224, in_w=224, in_c=3, k_h=7, k_w=7, out_c=64, stride=2)
    assert units[-1].out_bytes == 1000 * f32
    assert units[-1].geometry() == dict(in_h=1, in_w=1, in_c=2048, k_h=1, k_w=1, out_c=1000, stride=1)


def test_block_units_tile_layers_and_cut_single_tensors(plans):
    for name in MODEL_NAMES:
        layers = plans(name, "layer").units
        blocks = plans(name, "block").units
        expect = 0
        for b in blocks:
            assert b.layer_first == expect
            assert b.layer_last >= b.layer_first
            expect = b.layer_last + 1
            # A block ends exactly where its last layer unit ends, with one tensor crossing the cut.
            assert b.out_bytes == layers[b.layer_last].out_bytes
            assert len(b.live_out) == 1
            assert b.macs == sum(u.macs for u in layers[b.layer_first: b.layer_last + 1])
        assert expect == len(layers)
    assert len(plans("resnet152", "block").units) == 1 + 50 + 1  # stem, 50 bottlenecks, fc
    assert [u.name for u in plans("resnet152", "block").units][1:3] == ["layer1.0", "layer1.1"]
    assert len(plans("vgg8", "block").units) == 8  # every VGG cut is crossed by a single tensor
    assert len(plans("vit_b_16", "layer").units) == 1 + 12 * 3 + 1
    assert len(plans("vit_b_16", "block").units) == 1 + 12 * 2 + 1


def test_vgg8_units_match_neurosim_network(plans):
    units = plans("vgg8", "layer").units
    geo = [(u.in_h, u.in_c, u.k_h, u.out_c) for u in units]
    assert geo == [(32, 3, 3, 128), (32, 128, 3, 128), (16, 128, 3, 256), (16, 256, 3, 256), (8, 256, 3, 512),
                   (8, 512, 3, 512), (1, 8192, 1, 1024), (1, 1024, 1, 10)]
    assert units[0].macs == 32 * 32 * 128 * 3 * 9
    assert units[6].macs == 8192 * 1024
    assert units[5].out_bytes == 512 * 4 * 4 * 4  # after the last maxpool
    assert units[1].weight_bytes == 128 * 128 * 9 * 4
    assert [u.kind for u in units] == ["conv"] * 6 + ["linear"] * 2


def test_vit_attention_units(plans):
    units = plans("vit_b_16", "layer").units
    att = units[1]
    assert att.kind == "attention" and att.in_h is None
    t, e = 197, 768
    assert att.macs == 4 * t * e * e + 2 * t * t * e
    # After the MLP's first linear: GELU output (197x3072) + the residual stream (197x768).
    assert units[2].out_bytes == (t * 3072 + t * e) * 4


class TinyResidual(nn.Module):
    """x -> c1 -> relu = y; z = c3(relu(c2(y))); out = relu(z + y) -> flatten -> fc."""

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(3, 4, 3, padding=1)
        self.c2 = nn.Conv2d(4, 6, 3, padding=1)
        self.c3 = nn.Conv2d(6, 4, 3, padding=1)
        self.fc = nn.Linear(4 * 8 * 8, 5)

    def forward(self, x):
        y = torch.relu(self.c1(x))
        z = self.c3(torch.relu(self.c2(y)))
        return self.fc(torch.flatten(torch.relu(z + y), 1))


@pytest.mark.parametrize("dtype,size", [(torch.float32, 4), (torch.float64, 8)])
def test_cut_bytes_by_hand_on_tiny_residual_model(dtype, size):
    torch.manual_seed(0)
    model = TinyResidual().eval().to(dtype)
    x = torch.randn(1, 3, 8, 8, dtype=dtype)
    plan = derive_units(model, x, "layer")
    assert [u.name for u in plan.units] == ["c1", "c2", "c3", "fc"]
    hw = 8 * 8
    # c1 -> y (4 ch) ; c2 -> relu(c2) (6 ch) + skip y (4 ch) ; c3 -> relu(z+y) flattened (4 ch) ; fc -> 5 logits
    assert [u.out_bytes for u in plan.units] == [4 * hw * size, (6 + 4) * hw * size, 4 * hw * size, 5 * size]
    assert plan.input_bytes == 3 * hw * size
    assert plan.units[1].weight_bytes == (6 * 4 * 9 + 6) * size
    assert plan.units[1].macs == 6 * hw * 4 * 9
    blocks = derive_units(model, x, "block").units
    assert [(b.layer_first, b.layer_last) for b in blocks] == [(0, 0), (1, 2), (3, 3)]
    assert blocks[1].name == "c2..c3"  # no common module prefix -> first..last layer names
    with torch.no_grad():
        assert torch.equal(plan.run(x), model(x))


class InplaceSkip(nn.Module):
    """A unit that adds in place onto a tensor it received from the previous unit."""

    def __init__(self):
        super().__init__()
        self.a = nn.Linear(4, 4)
        self.b = nn.Linear(4, 4)

    def forward(self, x):
        h = self.a(x)
        g = self.b(x)
        h += g
        return h


def test_unit_steps_do_not_mutate_their_inputs():
    torch.manual_seed(0)
    model = InplaceSkip().eval()
    x = torch.randn(2, 4)
    plan = derive_units(model, x, "layer")
    env = plan.steps[0](plan.initial_env(x))
    before = {k: v.clone() for k, v in env.items()}
    out1 = plan.steps[1](env)
    out2 = plan.steps[1](env)  # the profiler re-runs a unit on the same inputs
    assert all(torch.equal(env[k], before[k]) for k in env)
    assert all(torch.equal(out1[k], out2[k]) for k in out1)
    with torch.no_grad():
        assert torch.equal(plan.run(x), model(x))


def test_unit_table_columns_and_types(plans):
    df = unit_table(plans("resnet152", "block").units)
    assert list(df.columns) == ["unit", "kind", "out_bytes", "weight_bytes", "macs", "in_h", "in_w", "in_c", "k_h",
                                "k_w", "out_c", "stride", "layer_first", "layer_last"]
    assert len(df) == 52 and df["unit"].is_unique
    assert str(df["out_bytes"].dtype) == "Int64"
    layer_df = unit_table(plans("vgg8", "layer").units)
    assert "layer_first" not in layer_df.columns


def test_errors_are_clear():
    class NoAnchor(nn.Module):
        def forward(self, x):
            return torch.relu(x)

    class Untraceable(nn.Module):
        def __init__(self):
            super().__init__()
            self.l = nn.Linear(2, 2)

        def forward(self, x):
            if x.sum() > 0:  # data-dependent control flow: fx cannot trace it
                return self.l(x)
            return x

    x = torch.randn(1, 2)
    with pytest.raises(UnitError, match="no conv/linear/attention"):
        derive_units(NoAnchor(), x)
    with pytest.raises(UnitError, match="not traceable"):
        derive_units(Untraceable(), x)
    with pytest.raises(UnitError, match="granularity"):
        derive_units(nn.Linear(2, 2), x, "stage")
    with pytest.raises(UnknownModelError, match="resnet50"):  # a typo gets the closest names suggested
        build_model("resnet5")
    assert issubclass(UnitError, ValueError) and issubclass(UnknownModelError, ValueError)


def test_models_are_deterministic_and_inputs_sized():
    m1, x1 = build_model("vgg8")
    m2, x2 = build_model("vgg8")
    assert torch.equal(x1, x2)
    assert all(torch.equal(a, b) for a, b in zip(m1.parameters(), m2.parameters()))
    assert not m1.training
    assert input_bytes("vgg8") == x1.numel() * 4 == 12288
    assert input_bytes("resnet152") == 3 * 224 * 224 * 4


def test_anchor_called_with_keyword_input():
    class Kw(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(6, 3)

        def forward(self, x):
            return self.fc(input=torch.relu(x))

    x = torch.randn(2, 6)
    plan = derive_units(Kw().eval(), x)
    u = plan.units[0]
    assert u.macs == 2 * 3 * 6 and u.in_c == 6 and u.out_bytes == 2 * 3 * 4
