"""The paper's experiments as data: clusters, media, the α grid, and the scenario tables behind Fig. 2–4.

Everything here is a pure function over plain data (profile tables, problem dicts, DataFrames); the device-type
profiles come from :mod:`.scenario_profiles` and the tables are written by :mod:`.result_tables`. Notebooks call
these functions and plot what they return.

In a problem the device-type keys are the roles ``cpu``/``gpu``/``cim`` and devices are named ``cpu0``,
``gpu1``, …; each type's ``meta`` carries the profile's provenance (``source_kind``, ``source``).
"""
from __future__ import annotations

import math
import re
from typing import Mapping, Sequence

import pandas as pd

from ..partition.plan_format import plan_string
from .scenario_profiles import ScenarioError, TypeProfile, check_same_units, input_bytes_of

PAPER_MODELS: tuple[str, ...] = ("resnet152", "vgg19", "vgg8")
PAPER_MEDIA: tuple[str, ...] = ("pcie5", "hb-wcc", "lb-wcc")
MEDIUM_LABELS = {"pcie5": "PCIe-5", "hb-wcc": "HB-WCC", "lb-wcc": "LB-WCC"}
ROLES: tuple[str, ...] = ("gpu", "cim", "cpu")  # the order of the paper's Fig. 3 tuples (GPUs, CIMs, CPUs)

# Section III-A: the four available-device sets D of Fig. 2c-k.
PAPER_CLUSTERS: dict[str, dict[str, int]] = {
    "4cpu": {"cpu": 4},
    "2cpu+2gpu": {"cpu": 2, "gpu": 2},
    "2cpu+2cim": {"cpu": 2, "cim": 2},
    "2cpu+1gpu+1cim": {"cpu": 2, "gpu": 1, "cim": 1},
}

# "α values spanning from 0 to 1 with step of 0.2": 6 values. The paper also says 252 scenarios, which would
# need 7 values per model/cluster/medium (252 = 3 x 4 x 3 x 7); we default to the grid the text states.
STATED_ALPHAS: tuple[float, ...] = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)

# Relative tolerance above which the paper's DP counts as worse than the exact optimum.
DP_WORSE_RTOL = 1e-12




def devices_text(counts: Mapping[str, int]) -> str:
    """``{"gpu": 2, "cim": 0, "cpu": 2}`` → ``"2 GPU + 2 CPU"`` (roles in the order given, zeros left out)."""
    return " + ".join(f"{int(n)} {r.upper()}" for r, n in counts.items() if int(n)) or "none"


# --------------------------------------------------------------------------------------------- problems
_CLUSTER_RE = re.compile(r"^(\d+)([a-z]+)$")


def parse_cluster(text: str) -> dict[str, int]:
    """``"2cpu+1gpu+1cim"`` → ``{"cpu": 2, "gpu": 1, "cim": 1}``."""
    counts: dict[str, int] = {}
    for part in text.strip().lower().split("+"):
        m = _CLUSTER_RE.match(part.strip())
        if not m:
            raise ScenarioError(f"cluster {text!r}: part {part!r} is not <count><type>, e.g. 2cpu")
        counts[m.group(2)] = counts.get(m.group(2), 0) + int(m.group(1))
    return counts


def cluster_name(counts: Mapping[str, int]) -> str:
    """Inverse of parse_cluster in the paper's order (CPUs first), dropping zero counts."""
    order = ["cpu", "gpu", "cim"] + sorted(set(counts) - {"cpu", "gpu", "cim"})
    return "+".join(f"{counts[r]}{r}" for r in order if counts.get(r, 0) > 0)


def make_problem(profiles: Mapping[str, TypeProfile], counts: Mapping[str, int], links: str | dict = "hb-wcc",
                 source: str | None = None, name: str | None = None) -> dict:
    """A problem dict (docs/ARCHITECTURE.md format) for ``counts`` devices per role over ``links``.

    Built by donna_core.profiling.problem_builder.build_problem: device types are keyed by profile name (e.g.
    ``gpu-rtx3070ti``), devices are named ``cpu0``, ``gpu1``, ``cim0`` … in the order cpu, gpu, cim, and
    ``meta.roles`` maps each device type back to its role. ``memory_bytes`` is left out: the paper states no
    memory limit and every model fits each device. The input size is the first unit's input feature map
    (float32) unless the profile metadata gives ``input_bytes``.
    """
    from donna_core.profiling.problem_builder import build_problem
    from donna_core.profiling.profiles import Profile

    counts = {r: int(n) for r, n in counts.items()}
    for r, n in counts.items():
        if n < 0:
            raise ScenarioError(f"device count for {r!r} is negative: {n}")
        if n > 0 and r not in profiles:
            raise ScenarioError(f"cluster uses device type {r!r} but no profile was loaded for it "
                                f"(loaded: {sorted(profiles)})")
    order = [r for r in ("cpu", "gpu", "cim") if counts.get(r, 0) > 0] + \
        sorted(r for r in counts if counts[r] > 0 and r not in ("cpu", "gpu", "cim"))
    if not order:
        raise ScenarioError("cluster has no devices")
    used = {r: profiles[r] for r in order}
    check_same_units(used)
    ref = used[order[0]]
    problem = build_problem(
        {p.device_type: Profile(p.meta, p.table) for p in used.values()},
        {used[r].device_type: counts[r] for r in order}, links=links, source=source,
        name=name or f"{ref.model} / {cluster_name(counts)} / "
                     f"{links if isinstance(links, str) else links.get('default', 'mixed')}",
        input_bytes=None if "input_bytes" in ref.meta else input_bytes_of(ref))
    problem["meta"].update({"cluster": cluster_name(counts), "built_by": "donna_core.experiments.scenarios via "
                            "donna_core.profiling.problem_builder",
                            "roles": {p.device_type: r for r, p in used.items()}})
    return problem


def edge_cloud_problem(profiles: Mapping[str, TypeProfile], n_edge: int, cloud: Sequence[str] = ("gpu", "cpu"),
                       edge_role: str = "cim", edge_medium: str = "hb-wcc", cloud_medium: str = "lb-wcc",
                       cloud_internal_medium: str = "pcie5") -> dict:
    """Fig. 4 setup: ``n_edge`` edge devices linked by ``edge_medium``, one cloud device per role in ``cloud``
    reached from the edge over ``cloud_medium``; the input lives on the first edge device.

    Cloud devices talk to each other over ``cloud_internal_medium`` (they sit in one data centre; the
    paper does not say, and DONNA's α=1 plans here never use that link).
    """
    if n_edge < 1:
        raise ScenarioError(f"n_edge must be at least 1, got {n_edge}")
    if edge_role in cloud:
        raise ScenarioError(f"edge role {edge_role!r} cannot also be a cloud role ({list(cloud)})")
    counts = {edge_role: n_edge, **{r: 1 for r in cloud}}
    edge = [f"{edge_role}{i}" for i in range(n_edge)]
    clouds = [f"{r}0" for r in cloud]
    pairs = [[e, c, cloud_medium] for e in edge for c in clouds]
    pairs += [[a, b, cloud_internal_medium] for i, a in enumerate(clouds) for b in clouds[i + 1:]]
    links = {"default": edge_medium, "pairs": pairs}
    model = next(iter(profiles.values())).model
    name = f"{model} / {n_edge} edge {edge_role} ({edge_medium}) + cloud {'+'.join(cloud)} ({cloud_medium})"
    p = make_problem(profiles, counts, links=links, source=edge[0], name=name)
    p["meta"]["setup"] = "edge-vs-cloud"
    return p


# --------------------------------------------------------------------------------------------- results
def device_roles(problem: Mapping) -> dict[str, str]:
    """Device name → role (cpu/gpu/cim), through ``meta.roles`` when the types are profile names."""
    roles = problem.get("meta", {}).get("roles", {})
    return {d["name"]: roles.get(d["type"], d["type"]) for d in problem["devices"]}


def result_row(result, problem: Mapping) -> dict:
    """Flatten a solver Result into one table row (plan, participating counts, costs)."""
    roles = device_roles(problem)
    used = [roles[s.device] for s in result.stages]
    row = {
        "bottleneck_s": float(result.bottleneck_s), "throughput_ips": float(result.throughput_ips),
        "energy_j": float(result.energy_j),
        "objective": float(result.objective) if result.objective is not None else math.nan,
        "n_stages": len(result.stages), "plan": plan_string(result.stages),
        "participating": cluster_name({r: used.count(r) for r in set(used)}),
        # energy spent on transfers (between stages, plus the input from the source)
        "comm_energy_j": float(sum(s.comm_out_j for s in result.stages) + getattr(result, "input_j", 0.0)),
    }
    for r in ROLES:
        row[f"used_{r}"] = used.count(r)
    norm = getattr(result, "norm", None) or {}
    row["norm_time_s"] = float(norm.get("time_s", math.nan))
    row["norm_energy_j"] = float(norm.get("energy_j", math.nan))
    return row


def with_progress(iterable, total: int, desc: str, progress: bool):
    if not progress:
        return iterable
    from tqdm.auto import tqdm
    return tqdm(iterable, total=total, desc=desc)


def sweep(profiles_by_model: Mapping[str, Mapping[str, TypeProfile]], media: Sequence[str] = PAPER_MEDIA,
          clusters: Mapping[str, Mapping[str, int]] | None = None, alphas: Sequence[float] = STATED_ALPHAS,
          solvers: Sequence[str] = ("paper", "exact"), progress: bool = True) -> pd.DataFrame:
    """Fig. 2c-k: solve every model × medium × cluster × α with each solver; one row per solve.

    Columns: model, medium, cluster, alpha, solver, scenario (id shared by the solvers), the cost columns of
    ``result_row`` and ``provenance`` (the device types' data sources). The number of scenarios is
    ``df.scenario.nunique()``.
    """
    from donna_core.partition.problem import problem_from_dict
    from donna_core.partition.solve import solve

    clusters = dict(clusters or PAPER_CLUSTERS)
    _check_alphas(alphas)
    jobs = [(m, med, c, a) for m in profiles_by_model for med in media for c in clusters for a in alphas]
    rows = []
    cache: dict = {}
    for sid, (model, medium, cname, alpha) in enumerate(
            with_progress(jobs, len(jobs), "scenarios", progress)):
        key = (model, medium, cname)
        if key not in cache:
            d = make_problem(profiles_by_model[model], clusters[cname], links=medium)
            cache[key] = (d, problem_from_dict(d))
        d, p = cache[key]
        for solver in solvers:
            r = solve(p, alpha=float(alpha), solver=solver)
            rows.append({"scenario": sid, "model": model, "medium": medium, "cluster": cname,
                         "alpha": float(alpha), "solver": solver, **result_row(r, d),
                         "provenance": _provenance(profiles_by_model[model], clusters[cname])})
    return pd.DataFrame(rows)


def _check_alphas(alphas: Sequence[float]) -> None:
    if len(alphas) == 0:
        raise ScenarioError("the α grid is empty")
    for a in alphas:
        if not (0.0 <= float(a) <= 1.0):
            raise ScenarioError(f"α must lie in [0, 1], got {a}")


def _provenance(profiles: Mapping[str, TypeProfile], counts: Mapping[str, int]) -> str:
    return "; ".join(f"{r}={profiles[r].device_type} ({profiles[r].source_kind})"
                     for r in sorted(counts) if counts[r] > 0)


def mark_dp_worse(df: pd.DataFrame, rtol: float = DP_WORSE_RTOL) -> pd.DataFrame:
    """Add ``exact_objective`` and ``dp_worse`` to the ``paper`` rows of a sweep table.

    ``dp_worse`` is True where the paper's DP objective exceeds the exact optimum's by more than
    ``rtol`` relative (both objectives use the same normalisation, so they are comparable).
    """
    need = {"scenario", "solver", "objective"}
    if not need <= set(df.columns):
        raise ScenarioError(f"sweep table lacks columns {sorted(need - set(df.columns))}")
    exact = df[df.solver == "exact"].set_index("scenario")["objective"]
    out = df[df.solver == "paper"].copy()
    if out.empty or exact.empty:
        raise ScenarioError("mark_dp_worse needs both 'paper' and 'exact' rows in the sweep table")
    out["exact_objective"] = out["scenario"].map(exact)
    if out["exact_objective"].isna().any():
        missing = out.loc[out["exact_objective"].isna(), "scenario"].tolist()[:5]
        raise ScenarioError(f"scenarios {missing} have a 'paper' row but no 'exact' row")
    out["dp_worse"] = out["objective"] > out["exact_objective"] * (1.0 + rtol) + 1e-300
    return out


def pareto_fronts(profiles_by_model: Mapping[str, Mapping[str, TypeProfile]], media: Sequence[str] = PAPER_MEDIA,
                  clusters: Mapping[str, Mapping[str, int]] | None = None, progress: bool = True) -> pd.DataFrame:
    """Exact (bottleneck, energy) Pareto front of every model × medium × cluster, one row per front point."""
    from donna_core.partition.problem import problem_from_dict
    from donna_core.partition.solve import pareto_front

    clusters = dict(clusters or PAPER_CLUSTERS)
    jobs = [(m, med, c) for m in profiles_by_model for med in media for c in clusters]
    rows = []
    for model, medium, cname in with_progress(jobs, len(jobs), "Pareto fronts", progress):
        d = make_problem(profiles_by_model[model], clusters[cname], links=medium)
        for k, r in enumerate(pareto_front(problem_from_dict(d))):
            rr = result_row(r, d)
            rows.append({"model": model, "medium": medium, "cluster": cname, "point": k,
                         **{c: rr[c] for c in ("bottleneck_s", "throughput_ips", "energy_j", "n_stages",
                                               "plan", "participating")}})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------- Fig. 3
FIG3_CLUSTERS: dict[str, dict[str, int]] = {**PAPER_CLUSTERS, "2cim": {"cim": 2}}


def single_gpu_baseline(profiles: Mapping[str, TypeProfile]) -> dict:
    """The whole model on one GPU (no transfers): the Fig. 3 baseline, costed by donna_core.partition.costs.evaluate."""
    from donna_core.partition.costs import evaluate
    from donna_core.partition.problem import problem_from_dict

    d = make_problem(profiles, {"gpu": 1}, links="pcie5")
    p = problem_from_dict(d)
    r = evaluate(p, [("gpu0", 0, len(d["units"]) - 1)], alpha=1.0)
    return result_row(r, d)


def single_gpu_comparison(profiles: Mapping[str, TypeProfile], media: Sequence[str] = PAPER_MEDIA,
                          clusters: Mapping[str, Mapping[str, int]] | None = None,
                          alphas: Sequence[float] = (0.6, 1.0), solver: str = "paper") -> pd.DataFrame:
    """Fig. 3: each scenario (available set, α, medium) against the whole model on a single GPU.

    Returns one row per scenario, numbered from 1 as in the paper, with ``speedup`` (baseline bottleneck /
    plan bottleneck), ``energy_ratio`` (plan energy / baseline energy) and ``per_device_energy_ratio``
    (plan energy / participating devices, over the baseline energy). ``label`` says what the paper's
    tuple ``(x, GPUs/CIMs/CPUs available, … participating, α, medium)`` says, in words:
    ``"3: 2 GPU + 2 CPU → uses 2 GPU; α 0.8, PCIe-5"``. The baseline is in ``df.attrs``.
    """
    from donna_core.partition.problem import problem_from_dict
    from donna_core.partition.solve import solve

    clusters = dict(clusters or FIG3_CLUSTERS)
    _check_alphas(alphas)
    base = single_gpu_baseline(profiles)
    rows = []
    x = 0
    for medium in media:
        for cname, counts in clusters.items():
            d = make_problem(profiles, counts, links=medium)
            p = problem_from_dict(d)
            for alpha in alphas:
                x += 1
                rr = result_row(solve(p, alpha=float(alpha), solver=solver), d)
                avail = devices_text({r: counts.get(r, 0) for r in ROLES})
                part = devices_text({r: rr[f"used_{r}"] for r in ROLES})
                rows.append({
                    "scenario": x, "medium": medium, "cluster": cname, "alpha": float(alpha), "solver": solver,
                    **rr,
                    "speedup": base["bottleneck_s"] / rr["bottleneck_s"],
                    "energy_ratio": rr["energy_j"] / base["energy_j"],
                    "per_device_energy_j": rr["energy_j"] / rr["n_stages"],
                    "per_device_energy_ratio": rr["energy_j"] / rr["n_stages"] / base["energy_j"],
                    "label": f"{x}: {avail} → uses {part}; α {alpha:g}, {MEDIUM_LABELS.get(medium, medium)}",
                    "provenance": _provenance(profiles, counts),
                })
    df = pd.DataFrame(rows)
    df.attrs["baseline"] = base
    return df


# --------------------------------------------------------------------------------------------- Fig. 4
def edge_vs_cloud(profiles_by_model: Mapping[str, Mapping[str, TypeProfile]], n_edge: int = 4,
                  cloud: Sequence[str] = ("gpu", "cpu"), alpha: float = 1.0, solver: str = "paper",
                  offload_to: str = "gpu", progress: bool = False, edge_medium: str = "hb-wcc",
                  cloud_medium: str = "lb-wcc") -> pd.DataFrame:
    """Fig. 4: DONNA's plan on the edge/cloud problem vs offloading the whole model to one cloud device.

    The offload baseline sends the raw input from the edge source over the cloud link and runs every unit
    on ``offload_to``; it is costed with donna_core.partition.costs.evaluate on the same problem, so both sides use
    one cost model. ``speedup`` = baseline bottleneck / DONNA bottleneck; ``energy_reduction`` = baseline
    energy / DONNA energy; ``all_on_edge`` says whether DONNA kept every unit on edge devices.
    ``edge_medium`` / ``cloud_medium``: the media of :func:`edge_cloud_problem` (the paper's by default).
    """
    from donna_core.partition.costs import evaluate
    from donna_core.partition.problem import problem_from_dict
    from donna_core.partition.solve import solve

    if offload_to not in cloud:
        raise ScenarioError(f"offload_to {offload_to!r} must be one of the cloud roles {list(cloud)}")
    rows = []
    for model in with_progress(list(profiles_by_model), len(profiles_by_model), "edge vs cloud", progress):
        profs = profiles_by_model[model]
        d = edge_cloud_problem(profs, n_edge, cloud=cloud, edge_medium=edge_medium, cloud_medium=cloud_medium)
        p = problem_from_dict(d)
        r = result_row(solve(p, alpha=float(alpha), solver=solver), d)
        b = result_row(evaluate(p, [(f"{offload_to}0", 0, len(d["units"]) - 1)], alpha=float(alpha)), d)
        edge_role = next(x for x in d["meta"]["roles"].values() if x not in cloud)
        rows.append({
            "model": model, "n_edge": n_edge, "alpha": float(alpha), "solver": solver,
            "donna_plan": r["plan"], "donna_participating": r["participating"],
            "donna_bottleneck_s": r["bottleneck_s"], "donna_throughput_ips": r["throughput_ips"],
            "donna_energy_j": r["energy_j"], "donna_comm_energy_j": r["comm_energy_j"],
            "offload_plan": b["plan"], "offload_bottleneck_s": b["bottleneck_s"],
            "offload_throughput_ips": b["throughput_ips"], "offload_energy_j": b["energy_j"],
            "offload_comm_energy_j": b["comm_energy_j"],
            "speedup": b["bottleneck_s"] / r["bottleneck_s"],
            "energy_reduction": b["energy_j"] / r["energy_j"],
            "all_on_edge": all(device_roles(d)[st.split(":")[0]] == edge_role for st in r["plan"].split("|")),
            "n_units": len(d["units"]),
            "provenance": _provenance(profs, {edge_role: n_edge, **{c: 1 for c in cloud}}),
        })
    return pd.DataFrame(rows)
