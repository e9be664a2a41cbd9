"""An independent reading of the graph latency rule with time curves, shared media and message CPU costs, straight
from the problem dict (README "Graph problems", latency), and its optimum by brute force over every assignment
and every order of the tasks."""
from __future__ import annotations

import itertools
import math


def _medium_names(d: dict) -> dict:
    """(device i, device j) -> medium name."""
    names = [x["name"] for x in d["devices"]]
    links = d["links"]
    out = {}
    for i, a in enumerate(names):
        for j, b in enumerate(names):
            if i == j:
                continue
            m = links if isinstance(links, str) else links["default"]
            if not isinstance(links, str):
                for x, y, mm in links.get("pairs", []):
                    if {x, y} == {a, b}:
                        m = mm
            out[(i, j)] = m
    return out


def message_seconds(med: dict, b: float) -> float:
    curve = med.get("time_curve")
    bw = med["bandwidth_Bps"]
    if curve is None:
        return med.get("latency_s", 0.0) + b / bw
    (b1, t1), (bn, tn) = curve[0], curve[-1]
    if b > bn:
        return tn + (b - bn) / bw
    if b < b1:
        return max(0.0, t1 - (b1 - b) / bw)
    for (x0, y0), (x1, y1) in zip(curve, curve[1:]):
        if x0 <= b <= x1:
            if b == x0:
                return y0
            if b == x1:
                return y1
            f = (math.log(b) - math.log(x0)) / (math.log(x1) - math.log(x0))
            return math.exp(math.log(y0) + f * (math.log(y1) - math.log(y0)))
    raise AssertionError


def _cpu(med: dict, typ: str, kind: str, b: float) -> float:
    c = med.get("cpu", {}).get(typ)
    if c is None:
        return 0.0
    return c.get(f"{kind}_s", 0.0) + b * c.get(f"{kind}_s_per_byte", 0.0)


def tasks(d: dict, a) -> tuple[list, list]:
    """(tasks, unit ids) of assignment ``a`` (device index per unit): a task is [resource, duration,
    occupancy, predecessors] -- duration = when its successors may start, occupancy = how long its resource is
    busy (a unit: compute, then its sends' CPU)."""
    devs = d["devices"]
    typ = [x["type"] for x in devs]
    med = _medium_names(d)
    media = d["media"]
    L = len(d["units"])
    edges = d["edges"]
    names = [x["name"] for x in devs]
    src = names.index(d["source"]) if d.get("source") is not None else None
    T = []
    for u in range(L):
        t = d["device_types"][typ[a[u]]]["time_s"][u]
        T.append([("dev", a[u]), t, t, []])
    send_extra = [0.0] * L
    reader_wait: dict = {}          # (producer or -1, device) -> task id a reader waits for

    def add_message(prod, s, dd, b):
        m = media[med[(s, dd)]]
        ch = ("med", med[(s, dd)]) if m.get("shared") else ("link", frozenset((s, dd)))
        dur = message_seconds(m, b)
        T.append([ch, dur, dur, [] if prod < 0 else [prod]])
        k = len(T) - 1
        r = _cpu(m, typ[dd], "recv", b)
        if r > 0:
            T.append([("dev", dd), r, r, [k]])
            k = len(T) - 1
        reader_wait[(prod, dd)] = k
        if prod >= 0:
            send_extra[prod] += _cpu(m, typ[s], "send", b)

    has_in = {v for _, v, _ in edges}
    if src is not None:
        for dd in sorted({a[v] for v in range(L) if v not in has_in}):
            if dd != src:
                add_message(-1, src, dd, d["input_bytes"])
    for u in range(L):
        size: dict = {}
        for x, v, b in edges:
            if x == u and a[v] != a[u]:
                size[a[v]] = max(size.get(a[v], -1.0), b)
        for dd in sorted(size):
            add_message(u, a[u], dd, size[dd])
    for u in range(L):
        T[u][2] += send_extra[u]
    for x, v, b in edges:
        T[v][3].append(x if a[x] == a[v] else reader_wait[(x, a[v])])
    for v in range(L):
        if v not in has_in and (-1, a[v]) in reader_wait:
            T[v][3].append(reader_wait[(-1, a[v])])
    return T, list(range(L))


def latency(d: dict, a, bound: float = math.inf) -> float:
    """Least latency of assignment ``a`` over every order of its tasks (each appended to its resource)."""
    T, units = tasks(d, a)
    n = len(T)
    ready_at = [None] * n
    best = [bound]

    def dfs(done, free, span):
        if span >= best[0]:
            return
        if done == n:
            best[0] = span
            return
        for t in range(n):
            if ready_at[t] is not None or any(ready_at[q] is None for q in T[t][3]):
                continue
            res = T[t][0]
            s0 = max([free.get(res, 0.0)] + [ready_at[q] for q in T[t][3]])
            ready_at[t] = s0 + T[t][1]
            old = free.get(res)
            free[res] = s0 + T[t][2]
            dfs(done + 1, free, max(span, ready_at[t]) if t in units else span)
            ready_at[t] = None
            if old is None:
                del free[res]
            else:
                free[res] = old

    dfs(0, {}, 0.0)
    return best[0]


def feasible(d: dict, a) -> bool:
    devs = d["devices"]
    load: dict = {}
    for u, dv in enumerate(a):
        dt = d["device_types"][devs[dv]["type"]]
        if "allowed" in dt and not dt["allowed"][u]:
            return False
        load[dv] = load.get(dv, 0.0) + d["units"][u]["weight_bytes"]
    return all(load[dv] <= d["device_types"][devs[dv]["type"]].get("memory_bytes", math.inf) for dv in load)


def best_latency(d: dict) -> float:
    best = math.inf
    for a in itertools.product(range(len(d["devices"])), repeat=len(d["units"])):
        if feasible(d, a):
            best = min(best, latency(d, a, best))
    return best
