"""Brute-force enumeration of every plan of a small problem: the reference the solvers are tested against.

:func:`reference_cost` recomputes a plan's cost straight from the problem dict (no prefix sums, no
``Tables``), so ``evaluate`` itself is checked against an independent reading of the cost model.
"""
from __future__ import annotations

import itertools
import math

from donna_core.partition.costs import PlanError, evaluate
from donna_core.partition.media import MEDIA_PRESETS, canonical_medium_name


def all_plans(p):
    """Every valid plan (ordered distinct devices x compositions of the units), memory limits and per-unit
    eligibility (``allowed``) applied by ``evaluate``."""
    L, D = p.L, p.D
    for n in range(1, min(D, L) + 1):
        for cuts in itertools.combinations(range(1, L), n - 1):
            bounds = (0,) + cuts + (L,)
            for devs in itertools.permutations(range(D), n):
                plan = [(devs[i], bounds[i], bounds[i + 1] - 1) for i in range(n)]
                try:
                    yield plan, evaluate(p, plan)
                except PlanError:
                    continue


def brute_front(p):
    """Exact (B, E) Pareto points, B ascending and E strictly descending (energies equal to 12 significant
    digits are one point, as in the solver)."""
    pts = sorted({(r.bottleneck_s, r.energy_j) for _, r in all_plans(p)})
    front, best = [], float("inf")
    for b, e in pts:
        if best == float("inf") or e < best - 1e-12 * abs(best):
            front.append((b, e))
            best = e
    return front


def brute_best_objective(p, alpha):
    from donna_core.partition.costs import norm_constants, objective
    norm = norm_constants(p)
    return min(objective(alpha, r.bottleneck_s, r.energy_j, norm) for _, r in all_plans(p))


def _medium_spec(d, a, b):
    links = d["links"]
    name = links if isinstance(links, str) else links.get("default")
    if not isinstance(links, str):
        for x, y, m in links.get("pairs", []):
            if {x, y} == {a, b}:
                name = m
    name = canonical_medium_name(name)
    given = {canonical_medium_name(k): v for k, v in d.get("media", {}).items()}
    if name in given:
        return name, given[name]
    m = MEDIA_PRESETS[name]
    return name, {"bandwidth_Bps": m.bandwidth_Bps, "energy_J_per_bit": m.energy_J_per_bit,
                  "latency_s": m.latency_s, "shared": m.shared}


def _medium(d, a, b):
    _, m = _medium_spec(d, a, b)
    return m["bandwidth_Bps"], m["energy_J_per_bit"], m.get("latency_s", 0.0)


def _time(spec, nbytes):
    """Message time read from the medium spec: the line, or the time curve (log-log segments inside, the
    line's slope anchored at the end points outside), written out independently of media.message_time."""
    bw = spec["bandwidth_Bps"]
    curve = spec.get("time_curve")
    if curve is None:
        return spec.get("latency_s", 0.0) + nbytes / bw
    if nbytes > curve[-1][0]:
        return curve[-1][1] + (nbytes - curve[-1][0]) / bw
    if nbytes < curve[0][0]:
        return max(0.0, curve[0][1] - (curve[0][0] - nbytes) / bw)
    for (b0, t0), (b1, t1) in zip(curve, curve[1:]):
        if b0 <= nbytes <= b1:
            w = (math.log(nbytes) - math.log(b0)) / (math.log(b1) - math.log(b0))
            return math.exp(math.log(t0) + w * (math.log(t1) - math.log(t0)))
    raise AssertionError("unreachable")


def _cpu(spec, dtype, end, nbytes):
    c = spec.get("cpu", {}).get(dtype, {})
    return c.get(f"{end}_s", 0.0) + nbytes * c.get(f"{end}_s_per_byte", 0.0)


def reference_cost(d, plan):
    """(bottleneck, energy) of ``plan`` = [(device name, first, last), ...] read directly from the dict, or None
    when a stage exceeds the memory or holds a unit its type may not run. Shared media: one part per shared
    medium, the sum of its messages' times; CPU costs: added to the sending and receiving stage's busy time."""
    types = {dev["name"]: dev["type"] for dev in d["devices"]}
    parts, energy = [], 0.0
    busy = [0.0] * len(plan)
    shared = {}

    def send(a, b, nbytes):
        name, spec = _medium_spec(d, a, b)
        t = _time(spec, nbytes)
        if spec.get("shared", False):
            shared[name] = shared.get(name, 0.0) + t
        else:
            parts.append(t)
        return 8 * nbytes * spec["energy_J_per_bit"], spec

    src = d.get("source")
    if src is not None and src != plan[0][0]:
        nbytes = d.get("input_bytes", 0.0)
        e, spec = send(src, plan[0][0], nbytes)
        energy += e
        busy[0] += _cpu(spec, types[plan[0][0]], "recv", nbytes)
    for n, (dev, first, last) in enumerate(plan):
        spec = d["device_types"][types[dev]]
        units = range(first, last + 1)
        if not all(spec.get("allowed", [True] * len(d["units"]))[l] for l in units):
            return None
        if sum(d["units"][l].get("weight_bytes", 0.0) for l in units) > spec.get("memory_bytes", float("inf")):
            return None
        busy[n] += sum(spec["time_s"][l] for l in units)
        energy += sum(spec["energy_j"][l] for l in units)
        if n + 1 < len(plan):
            nbytes = d["units"][last]["out_bytes"]
            e, mspec = send(dev, plan[n + 1][0], nbytes)
            energy += e
            busy[n] += _cpu(mspec, types[dev], "send", nbytes)
            busy[n + 1] += _cpu(mspec, types[plan[n + 1][0]], "recv", nbytes)
    return max(parts + busy + list(shared.values())), energy


def reference_plans(d, p):
    """Every valid plan of the problem dict ``d`` (parsed as ``p``) with its (bottleneck, energy) from
    :func:`reference_cost`, so the solvers are checked against the dict, not against ``evaluate``."""
    for plan, _ in all_plans(p):
        named = [(p.device_names[dev], f, l) for dev, f, l in plan]
        yield plan, reference_cost(d, named)


def reference_best_objective(d, p, alpha):
    from donna_core.partition.costs import norm_constants, objective
    norm = norm_constants(p)
    return min(objective(alpha, b, e, norm) for _, (b, e) in reference_plans(d, p))


def reference_front(d, p):
    pts = sorted({be for _, be in reference_plans(d, p)})
    front, best = [], float("inf")
    for b, e in pts:
        if best == float("inf") or e < best - 1e-12 * abs(best):
            front.append((b, e))
            best = e
    return front


def reference_graph_cost(d, assignment):
    """(bottleneck, energy) of a graph plan (``assignment``: device name per unit) read directly from the dict
    ``d`` (with ``edges``), or None when a device exceeds its memory or holds a unit its type may not run.

    One message per (producer, other device holding a successor), of the producer's largest edge into that
    device; the input from ``source`` to each other device holding a unit without incoming edges. Bottleneck =
    max over: device busy (compute + send CPU of its messages + receive CPU of its messages and input), the
    busy time of each link on an independent medium (its unit messages, both directions), each input message
    over an independent medium, and each shared medium's sum of all its messages' times. Written without
    ``graph_costs`` (and without its "dominated terms stay" shortcut: a link or input on a shared medium is only
    in the medium's sum), so a mistake there cannot hide."""
    types = {dev["name"]: dev["type"] for dev in d["devices"]}
    units = d["units"]
    busy = {name: 0.0 for name in types}
    load = {name: 0.0 for name in types}
    energy = 0.0
    for u, dev in enumerate(assignment):
        spec = d["device_types"][types[dev]]
        if not spec.get("allowed", [True] * len(units))[u]:
            return None
        load[dev] += units[u].get("weight_bytes", 0.0)
        busy[dev] += spec["time_s"][u]
        energy += spec["energy_j"][u]
    for dev in types:
        if load[dev] > d["device_types"][types[dev]].get("memory_bytes", float("inf")):
            return None
    parts, links, shared = [], {}, {}

    def message(a, b, nbytes, is_input):
        name, spec = _medium_spec(d, a, b)
        t = _time(spec, nbytes)
        if spec.get("shared", False):
            shared[name] = shared.get(name, 0.0) + t
        elif is_input:
            parts.append(t)
        else:
            key = frozenset((a, b))
            links[key] = links.get(key, 0.0) + t
        if not is_input:
            busy[a] += _cpu(spec, types[a], "send", nbytes)
        busy[b] += _cpu(spec, types[b], "recv", nbytes)
        return 8 * nbytes * spec["energy_J_per_bit"]

    for u in range(len(units)):
        largest = {}
        for x, v, nbytes in d["edges"]:
            if x == u and assignment[v] != assignment[u]:
                largest[assignment[v]] = max(largest.get(assignment[v], -1.0), nbytes)
        for dev, nbytes in largest.items():
            energy += message(assignment[u], dev, nbytes, False)
    src = d.get("source")
    if src is not None:
        readers = {assignment[v] for v in range(len(units)) if not any(e[1] == v for e in d["edges"])}
        for dev in readers - {src}:
            energy += message(src, dev, d.get("input_bytes", 0.0), True)
    return max([*busy.values(), *links.values(), *parts, *shared.values()]), energy


def reference_graph_plans(d):
    """Every feasible assignment of the graph problem dict ``d`` (device names, unit 0 most significant) with
    its (bottleneck, energy) from :func:`reference_graph_cost`."""
    names = [dev["name"] for dev in d["devices"]]
    for assign in itertools.product(names, repeat=len(d["units"])):
        cost = reference_graph_cost(d, assign)
        if cost is not None:
            yield assign, cost
