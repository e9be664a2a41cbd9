"""Randomly wired networks (RandWire, Xie et al. 2019), the graphs DiviML evaluates, small enough for a CPU.

The wiring is a Watts–Strogatz graph WS(N, k, p) made a DAG the paper's way: nodes are numbered along the ring
and every edge points from the lower to the higher index.  A node aggregates its inputs by a weighted sum with
learnable positive weights (``sigmoid(w)``), transforms the sum by ReLU → 3×3 conv → BN, and sends the same
output along every out-edge.  Nodes without a predecessor read the stage input (with stride 2, the stage's
down-sampling); the stage output is the mean of the nodes without a successor.

We build one random stage (the "single-stage variant") between a stem and a classifier head::

    stem: conv 3x3 s2 (3 -> C/2) + BN;  stage: N nodes, C channels;  head: ReLU, conv 1x1 (C -> 4C) + BN + ReLU,
    global average pool, linear (4C -> classes)

Everything is deterministic by ``seed``: the graph from ``numpy.random.default_rng(seed)``, the weights from
``torch.manual_seed(seed)``.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

# The paper's WS parameters for its RandWire-WS models: each node starts with k = 4 ring neighbours, and each
# edge is rewired with probability p = 0.75.
WS_K = 4
WS_P = 0.75


class RandWireError(ValueError):
    """Bad RandWire parameters (too few nodes, odd k, p outside [0, 1])."""


def watts_strogatz_edges(n: int, k: int = WS_K, p: float = WS_P, seed: int = 0) -> list[tuple[int, int]]:
    """Undirected WS(n, k, p) edges as sorted pairs ``(a, b)``, ``a < b``, deterministically from ``seed``.

    Ring lattice: node i is joined to i+1 .. i+k/2 (mod n).  Then, lap by lap (offset j = 1 .. k/2) and node by
    node, the edge (i, i+j) is rewired with probability p to (i, w), w uniform among the nodes that are neither
    i nor already joined to i (Watts & Strogatz 1998; the order networkx also uses).
    """
    if n < k + 2:
        raise RandWireError(f"a WS graph needs n >= k + 2 nodes, got n={n}, k={k}")
    if k < 2 or k % 2:
        raise RandWireError(f"k must be even and >= 2, got {k}")
    if not 0.0 <= p <= 1.0:
        raise RandWireError(f"p must be in [0, 1], got {p}")
    rng = np.random.default_rng(seed)
    adj = [set() for _ in range(n)]
    for i in range(n):
        for j in range(1, k // 2 + 1):
            adj[i].add((i + j) % n)
            adj[(i + j) % n].add(i)
    for j in range(1, k // 2 + 1):
        for i in range(n):
            v = (i + j) % n
            if v not in adj[i] or rng.random() >= p:
                continue
            free = [w for w in range(n) if w != i and w not in adj[i]]
            if not free:
                continue
            w = free[int(rng.integers(len(free)))]
            adj[i].discard(v)
            adj[v].discard(i)
            adj[i].add(w)
            adj[w].add(i)
    return sorted({(min(a, b), max(a, b)) for a in range(n) for b in adj[a]})


def dag_predecessors(n: int, edges: list[tuple[int, int]]) -> list[list[int]]:
    """Predecessors of each node when every edge points from the lower to the higher index (sorted)."""
    preds = [[] for _ in range(n)]
    for a, b in edges:
        preds[b].append(a)
    return [sorted(p) for p in preds]


class WiredNode(nn.Module):
    """Weighted sum of the inputs (weights ``sigmoid(w)``), then ReLU → conv 3×3 → BN."""

    def __init__(self, n_inputs: int, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.agg = nn.Parameter(torch.zeros(n_inputs))  # sigmoid(0) = 1/2, the paper's initial weight
        self.relu = nn.ReLU()
        self.conv = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(c_out)

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        w = torch.sigmoid(self.agg)
        s = xs[0] * w[0]
        for i in range(1, len(xs)):
            s = s + xs[i] * w[i]
        return self.bn(self.conv(self.relu(s)))


class RandWireStage(nn.Module):
    """One randomly wired stage: nodes in index order (a topological order of the DAG)."""

    def __init__(self, n: int, c_in: int, c_out: int, seed: int, k: int = WS_K, p: float = WS_P):
        super().__init__()
        self.edges = watts_strogatz_edges(n, k, p, seed)
        self.preds = dag_predecessors(n, self.edges)
        has_succ = {a for a, _ in self.edges}
        self.sinks = [i for i in range(n) if i not in has_succ]
        self.nodes = nn.ModuleList(
            WiredNode(max(len(pr), 1), c_in if not pr else c_out, c_out, 1 if pr else 2) for pr in self.preds)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outs: list[torch.Tensor] = []
        for node, pr in zip(self.nodes, self.preds):
            outs.append(node(*[outs[j] for j in pr]) if pr else node(x))
        y = outs[self.sinks[0]]
        for j in self.sinks[1:]:
            y = y + outs[j]
        return y / len(self.sinks)


class RandWire(nn.Module):
    """Stem, one random stage of ``n`` nodes, classifier head (see module docstring)."""

    def __init__(self, n: int = 32, channels: int = 32, seed: int = 0, num_classes: int = 10,
                 k: int = WS_K, p: float = WS_P):
        super().__init__()
        c = channels
        self.stem = nn.Sequential(nn.Conv2d(3, c // 2, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(c // 2))
        self.stage = RandWireStage(n, c // 2, c, seed, k, p)
        self.head = nn.Sequential(nn.ReLU(), nn.Conv2d(c, 4 * c, 1, bias=False), nn.BatchNorm2d(4 * c), nn.ReLU())
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(4 * c, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.head(self.stage(self.stem(x)))
        return self.fc(torch.flatten(self.pool(x), 1))


def build_randwire(n: int, channels: int, seed: int, image: int = 64) -> tuple[nn.Module, torch.Tensor]:
    """``(RandWire in eval mode, example input 1×3×image×image)``, both from ``seed`` (graph, weights, input).

    Batch-norm statistics are randomised too (as a trained network would have them), so BN is not an identity.
    """
    gen_state = torch.random.get_rng_state()
    try:
        torch.manual_seed(seed)
        model = RandWire(n, channels, seed)
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.normal_(0.0, 0.1)
                m.running_var.uniform_(0.5, 1.5)
        x = torch.randn(1, 3, image, image)
    finally:
        torch.random.set_rng_state(gen_state)
    model.eval()
    for prm in model.parameters():
        prm.requires_grad_(False)
    return model, x
