"""What the communication model extensions change in the paper's experiments.

Two "worlds" run the same experiments (the Fig. 2 sweep and fronts, Fig. 3, Fig. 4) through
:mod:`.scenarios`: ``independent`` uses the paper's Table I media (every link its own channel), ``shared``
replaces the two radios by their shared variants (``hb-wcc-shared``, ``lb-wcc-shared``: every transmitter on
the medium takes turns on one channel). PCIe-5 is a wired point-to-point link and stays independent in both.
Energy per message is the same in both worlds, so a plan costs the same energy in each and its bottleneck can
only grow under sharing; what moves are the plans, the throughputs and the claims built on them.

The second part compares a size-dependent transport (a measured ``time_curve``) with the fitted line
``latency + bytes / bandwidth`` of the same calibration: the plans each model picks and what the line's plan
really delivers when the curve is the truth.

Everything is a pure function over profiles and DataFrames except :func:`loopback_media` (reads the
calibration file) and :func:`write_study` (writes the tables).
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Mapping, Sequence

import pandas as pd

from .. import config
from . import claims as cl
from . import result_tables as rt
from . import scenario_profiles as sp
from . import scenarios as sc
from .claims_report import md_cell

SHARED_VARIANTS: dict[str, str] = {"hb-wcc": "hb-wcc-shared", "lb-wcc": "lb-wcc-shared"}
BASE_OF = {v: k for k, v in SHARED_VARIANTS.items()}
WORLDS: dict[str, tuple[str, ...]] = {
    "independent": sc.PAPER_MEDIA,
    "shared": tuple(SHARED_VARIANTS.get(m, m) for m in sc.PAPER_MEDIA),
}
FIG3_MODEL = "resnet152"            # the paper's Fig. 3 model
FIG3_ALPHAS = (0.8, 1.0)           # notebook 03's grid
SCENARIO_KEY = ["model", "base_medium", "cluster", "alpha", "solver"]
SAME_RTOL = 1e-12                  # two costs of one plan agree when within this relative tolerance

STUDY_FILES = {"sweep": "shared_sweep.csv", "fronts": "shared_fronts.csv", "fig3": "shared_fig3.csv",
               "fig4": "shared_fig4.csv", "compare": "shared_compare.csv", "claims": "shared_claims.csv",
               "curve": "curve_compare.csv"}
CALIBRATION_FILE = config.VALIDATION / "calibration.json"

# Used only when no calibration exists; labelled as such wherever it appears. Shaped like a loopback transport:
# ~50 us per small message, ~7 GB/s effective around 1 MB, ~3 GB/s at 100 MB.
ILLUSTRATIVE_CURVE = ((1e3, 5e-5), (1e5, 6.5e-5), (1e6, 1.9e-4), (1e7, 3.0e-3), (1e8, 3.7e-2))
ILLUSTRATIVE_LINE = {"latency_s": 4.5e-5, "bandwidth_Bps": 5.25e9}


def base_medium(medium: str) -> str:
    """``hb-wcc-shared`` → ``hb-wcc``; any other name unchanged."""
    return BASE_OF.get(medium, medium)


# ------------------------------------------------------------------------------------------ the two worlds
def run_worlds(profiles_by_model: Mapping[str, Mapping[str, sp.TypeProfile]],
               clusters: Mapping[str, Mapping[str, int]] | None = None,
               alphas: Sequence[float] = sc.STATED_ALPHAS, fig3_alphas: Sequence[float] = FIG3_ALPHAS,
               n_edge: int = 4, solvers: Sequence[str] = ("paper", "exact"),
               progress: bool = True) -> dict[str, pd.DataFrame]:
    """The sweep, exact fronts, Fig. 3 (ResNet-152 when loaded) and Fig. 4 tables of both worlds.

    Each table has a ``world`` column and ``base_medium`` (the Table I medium a shared variant is made of);
    ``medium`` keeps the name actually used. Fig. 3 and Fig. 4 are run once per solver (``solver`` column).
    """
    out: dict[str, list[pd.DataFrame]] = {"sweep": [], "fronts": [], "fig3": [], "fig4": []}
    fig3_cl = dict(clusters or sc.FIG3_CLUSTERS)
    for world, media in WORLDS.items():
        tag = {"world": world}
        out["sweep"].append(sc.sweep(profiles_by_model, media, clusters, alphas, solvers, progress).assign(**tag))
        out["fronts"].append(sc.pareto_fronts(profiles_by_model, media, clusters, progress).assign(**tag))
        for solver in solvers:
            if FIG3_MODEL in profiles_by_model:
                f3 = sc.single_gpu_comparison(profiles_by_model[FIG3_MODEL], media, fig3_cl, fig3_alphas, solver)
                base = f3.attrs["baseline"]
                out["fig3"].append(f3.assign(model=FIG3_MODEL, baseline_bottleneck_s=base["bottleneck_s"],
                                             baseline_energy_j=base["energy_j"], **tag))
            out["fig4"].append(sc.edge_vs_cloud(
                profiles_by_model, n_edge=n_edge, solver=solver, edge_medium=SHARED_VARIANTS["hb-wcc"]
                if world == "shared" else "hb-wcc", cloud_medium=SHARED_VARIANTS["lb-wcc"]
                if world == "shared" else "lb-wcc").assign(**tag))
    tables = {k: pd.concat(v, ignore_index=True) for k, v in out.items() if v}
    for k in ("sweep", "fronts", "fig3"):
        if k in tables:
            tables[k]["base_medium"] = tables[k]["medium"].map(base_medium)
    return tables


def world_tables(study: Mapping[str, pd.DataFrame], world: str, solver: str = "paper",
                 profiles_long: pd.DataFrame | None = None, sources: pd.DataFrame | None = None) -> dict:
    """One world's tables in the shape the claims report reads (media renamed to their Table I names, Fig. 3/4
    rows of ``solver`` only, which is the solver notebooks 03 and 04 use)."""
    if world not in WORLDS:
        raise ValueError(f"world must be one of {list(WORLDS)}, got {world!r}")
    t: dict[str, pd.DataFrame] = {}
    for k, df in study.items():
        if k not in ("sweep", "fronts", "fig3", "fig4") or "world" not in df.columns:
            continue
        g = df[df["world"] == world]
        if k in ("fig3", "fig4"):
            g = g[g["solver"] == solver]
        if "base_medium" in g.columns:
            g = g.assign(medium=g["base_medium"]).drop(columns=["base_medium"])
        t[k] = g.drop(columns=["world"]).reset_index(drop=True)
    if profiles_long is not None:
        t["profiles"] = profiles_long
    if sources is not None:
        t["sources"] = sources
    return t


def claims_shift(study: Mapping[str, pd.DataFrame], profiles_long: pd.DataFrame | None = None,
                 solver: str = "paper") -> pd.DataFrame:
    """Every claim of the report evaluated in both worlds: verdicts, our numbers, and whether they moved."""
    got = {w: cl.build_claims(world_tables(study, w, solver, profiles_long)) for w in WORLDS}
    rows = []
    for a, b in zip(got["independent"], got["shared"]):
        rows.append({"key": a.key, "where": a.where, "claim": a.claim, "paper": a.paper,
                     "verdict_independent": a.verdict, "verdict_shared": b.verdict,
                     "ours_independent": a.ours, "ours_shared": b.ours,
                     "numbers_moved": a.ours != b.ours, "verdict_moved": a.verdict != b.verdict})
    return pd.DataFrame(rows)


def _plan_tuples(plan: str) -> list[tuple[str, int, int]]:
    out = []
    for stage in plan.split("|"):
        dev, rng = stage.split(":")
        first, last = rng.split("-")
        out.append((dev, int(first), int(last)))
    return out


def compare_worlds(sweep: pd.DataFrame, profiles_by_model: Mapping[str, Mapping[str, sp.TypeProfile]],
                   clusters: Mapping[str, Mapping[str, int]] | None = None) -> pd.DataFrame:
    """One row per radio scenario (model, medium, cluster, α, solver): the independent and the shared plan and
    costs, ``throughput_ratio`` = shared / independent, ``plan_changed``, and the independent plan re-costed
    under sharing (``indep_plan_shared_*``: what keeping the paper's plan costs when the channel is shared;
    same energy, bottleneck at least as large). ``channel_bound``: the shared plan's bottleneck is its
    channel's busy time (the sum of the messages over it), not a stage."""
    from donna_core.partition.costs import evaluate
    from donna_core.partition.problem import problem_from_dict

    clusters = dict(clusters or sc.PAPER_CLUSTERS)
    radio = sweep[sweep["base_medium"].isin(list(SHARED_VARIANTS))]
    cols = SCENARIO_KEY + ["plan", "bottleneck_s", "throughput_ips", "energy_j", "participating", "n_stages"]
    ind = radio[radio["world"] == "independent"][cols]
    sh = radio[radio["world"] == "shared"][cols]
    m = ind.merge(sh, on=SCENARIO_KEY, suffixes=("_independent", "_shared"), validate="one_to_one")
    if len(m) != len(ind) or len(m) != len(sh):
        raise sc.ScenarioError("the two worlds' sweeps do not cover the same radio scenarios")
    problems: dict = {}
    extra = []
    for r in m.itertuples(index=False):
        key = (r.model, r.base_medium, r.cluster)
        if key not in problems:
            d = sc.make_problem(profiles_by_model[r.model], clusters[r.cluster], links=SHARED_VARIANTS[r.base_medium])
            problems[key] = problem_from_dict(d)
        p = problems[key]
        old = evaluate(p, _plan_tuples(r.plan_independent), r.alpha)
        new = evaluate(p, _plan_tuples(r.plan_shared), r.alpha)
        busy = max(new.extra.get("shared_busy_s", {}).values(), default=0.0)
        extra.append({"indep_plan_shared_bottleneck_s": old.bottleneck_s, "indep_plan_shared_energy_j": old.energy_j,
                      "shared_channel_busy_s": busy,
                      "channel_bound": busy > 0 and busy >= new.bottleneck_s * (1 - SAME_RTOL)})
    m = pd.concat([m, pd.DataFrame(extra, index=m.index)], axis=1)
    m["plan_changed"] = m["plan_independent"] != m["plan_shared"]
    m["throughput_ratio"] = m["throughput_ips_shared"] / m["throughput_ips_independent"]
    m["energy_ratio"] = m["energy_j_shared"] / m["energy_j_independent"]
    # what re-planning for the shared channel gains over keeping the independent plan (>= 1 when optimal)
    m["replan_gain"] = m["indep_plan_shared_bottleneck_s"] / m["bottleneck_s_shared"]
    return m


def shift_summary(compare: pd.DataFrame, solver: str = "exact") -> pd.DataFrame:
    """Per medium and model: scenarios, plans that change, throughput ratio shared/independent (min, median),
    channel-bound plans."""
    g = compare[compare["solver"] == solver].groupby(["base_medium", "model"], sort=False)
    return g.agg(scenarios=("plan_changed", "size"), plans_changed=("plan_changed", "sum"),
                 throughput_ratio_min=("throughput_ratio", "min"),
                 throughput_ratio_median=("throughput_ratio", "median"),
                 energy_ratio_max=("energy_ratio", "max"), channel_bound=("channel_bound", "sum")).reset_index()


# ------------------------------------------------------------------------------------------ curve vs line
def loopback_media(path: str | Path = CALIBRATION_FILE) -> tuple[dict[str, dict], str]:
    """``({"curve": spec, "line": spec}, label)``: the measured loopback transport as a ``time_curve`` and as
    its fitted line, with provenance; the illustrative pair (labelled so) when ``path`` does not exist."""
    from donna_core.partition.media import MEDIA_PRESETS

    path = Path(path)
    if not path.is_file():
        e = MEDIA_PRESETS["pcie5"].energy_J_per_bit
        note = "ILLUSTRATIVE curve (no calibration file; not measured)"
        line = {**ILLUSTRATIVE_LINE, "energy_J_per_bit": e, "description": note + ": line"}
        curve = {"bandwidth_Bps": ILLUSTRATIVE_LINE["bandwidth_Bps"], "energy_J_per_bit": e,
                 "time_curve": [list(p) for p in ILLUSTRATIVE_CURVE], "description": note}
        return {"curve": curve, "line": line}, note
    rec = json.loads(path.read_text())
    med, smp, prov = rec["medium"], rec["samples"], rec.get("provenance", {})
    lat, bw = med.get("meta", {}).get("line", {}).get("latency_s", med["latency_s"]), med["bandwidth_Bps"]
    if "time_curve" in med:
        pts, how = med["time_curve"], "its time_curve"
    else:  # a calibration written before curves: the per-size medians it recorded, made monotone the same way
        from donna_core.partition.media import curve_from

        pts, how = curve_from(smp["bytes"], smp["median_one_way_s"]), "per-size medians of its samples"
    where = f"{path.parent.name}/{path.name}"
    label = (f"measured: {rec.get('name', 'link')} on host {prov.get('host', '?')} {prov.get('date', '')} "
             f"({where}, {how}); energy/bit assumed ({med['energy_J_per_bit']:g} J/b)")
    line = {"latency_s": lat, "bandwidth_Bps": bw, "energy_J_per_bit": med["energy_J_per_bit"],
            "description": f"fitted line of {where}", "meta": {"provenance": prov}}
    curve = {"bandwidth_Bps": bw, "energy_J_per_bit": med["energy_J_per_bit"],
             "time_curve": [[float(b), float(t)] for b, t in pts],
             "description": f"time curve of {where}", "meta": {"provenance": prov}}
    return {"curve": curve, "line": line}, label


def _with_medium(d: dict, name: str, spec: dict) -> dict:
    d = dict(d, media={name: spec}, links=name)
    d["name"] = d["name"].rsplit(" / ", 1)[0] + f" / {name}"
    return d


def curve_vs_line(profiles_by_model: Mapping[str, Mapping[str, sp.TypeProfile]], media: Mapping[str, dict],
                  clusters: Mapping[str, Mapping[str, int]] | None = None,
                  alphas: Sequence[float] = sc.STATED_ALPHAS, solver: str = "exact",
                  progress: bool = True) -> pd.DataFrame:
    """Every model × cluster × α solved with the line and with the curve (``media`` from :func:`loopback_media`):
    both plans, ``plan_changed``, ``throughput_ratio`` = curve plan / line plan (each under its own model),
    and the line's plan re-costed under the curve (``line_plan_curve_*``; ``line_plan_loss`` = its bottleneck
    over the curve plan's, >= 1 at α = 1 where the curve plan is the fastest under the curve)."""
    from donna_core.partition.costs import evaluate
    from donna_core.partition.problem import problem_from_dict
    from donna_core.partition.solve import solve

    clusters = dict(clusters or sc.PAPER_CLUSTERS)
    jobs = [(m, c) for m in profiles_by_model for c in clusters]
    rows = []
    for model, cname in sc.with_progress(jobs, len(jobs), "curve vs line", progress):
        base = sc.make_problem(profiles_by_model[model], clusters[cname], links="pcie5")
        dl, dc = (_with_medium(base, f"loopback-{k}", media[k]) for k in ("line", "curve"))
        pl, pc = problem_from_dict(dl), problem_from_dict(dc)
        for alpha in alphas:
            rl, rc = (sc.result_row(solve(p, float(alpha), solver), d) for p, d in ((pl, dl), (pc, dc)))
            moved = evaluate(pc, _plan_tuples(rl["plan"]), float(alpha))
            rows.append({"model": model, "cluster": cname, "alpha": float(alpha), "solver": solver,
                         "plan_line": rl["plan"], "plan_curve": rc["plan"],
                         "bottleneck_s_line": rl["bottleneck_s"], "bottleneck_s_curve": rc["bottleneck_s"],
                         "energy_j_line": rl["energy_j"], "energy_j_curve": rc["energy_j"],
                         "line_plan_curve_bottleneck_s": moved.bottleneck_s,
                         "line_plan_curve_energy_j": moved.energy_j})
    df = pd.DataFrame(rows)
    df["plan_changed"] = df["plan_line"] != df["plan_curve"]
    df["throughput_ratio"] = df["bottleneck_s_line"] / df["bottleneck_s_curve"]
    df["line_plan_loss"] = df["line_plan_curve_bottleneck_s"] / df["bottleneck_s_curve"]
    return df


def cut_sizes(profiles_by_model: Mapping[str, Mapping[str, sp.TypeProfile]]) -> pd.DataFrame:
    """Every unit's output size per model (the messages a cut after it sends), for the curve figure."""
    return pd.concat([pd.DataFrame({"model": m, "out_bytes": next(iter(p.values())).table["out_bytes"].astype(float)})
                      for m, p in profiles_by_model.items()], ignore_index=True)


# ------------------------------------------------------------------------------------------ I/O and report
def write_study(tables: Mapping[str, pd.DataFrame], datadir: str | Path) -> list[Path]:
    """Write the study's tables (keys of STUDY_FILES) as CSV, atomically."""
    return [rt.write_table(df, Path(datadir) / STUDY_FILES[k]) for k, df in tables.items() if k in STUDY_FILES]


def load_study(datadir: str | Path) -> dict[str, pd.DataFrame]:
    datadir = Path(datadir)
    return {k: pd.read_csv(datadir / f) for k, f in STUDY_FILES.items() if (datadir / f).is_file()}


def _fmt_ratio(x: float) -> str:
    return f"{x:.3g}" if math.isfinite(x) else "—"


def _named_claims(t: Mapping[str, pd.DataFrame], solver: str = "paper") -> list[str]:
    """Scenario 10's speedup and the edge-CIM energy reduction in both worlds (``solver`` as in notebooks 03/04)."""
    out = []
    if "fig3" in t:
        f = t["fig3"]
        g = f[(f["base_medium"] == "hb-wcc") & (f["cluster"] == "2cpu+2gpu") & (f["alpha"] == 1.0)
              & (f["solver"] == solver)].set_index("world")
        if set(WORLDS) <= set(g.index):
            out.append(f"Scenario 10 (ResNet-152, {{2 CPU, 2 GPU}}, HB-WCC, α = 1, {solver}): speedup over one GPU "
                       f"{g.loc['independent', 'speedup']:.3g}× independent, {g.loc['shared', 'speedup']:.3g}× shared "
                       f"(plan {g.loc['shared', 'plan']}).")
    if "fig4" in t:
        f = t["fig4"]
        g = f[(f["model"] == "resnet152") & (f["solver"] == solver)].set_index("world")
        if set(WORLDS) <= set(g.index):
            out.append(f"Edge CIM vs cloud offload (ResNet-152, {solver}): energy reduction "
                       f"{g.loc['independent', 'energy_reduction']:.3g}× independent, "
                       f"{g.loc['shared', 'energy_reduction']:.3g}× shared; speedup "
                       f"{g.loc['independent', 'speedup']:.3g}× → {g.loc['shared', 'speedup']:.3g}×.")
    return ["", " ".join(out)] if out else []


def study_markdown(datadir: str | Path) -> str:
    """The report section "shared wireless channels and measured transport curves" from the tables notebook
    10 wrote (empty string when they are absent, so a report without the study is unchanged)."""
    t = load_study(datadir)
    if not {"claims", "compare"} <= set(t):
        return ""
    c, cmp = t["claims"], t["compare"]
    lines = ["## Beyond the paper: shared wireless channels and measured transport curves", "",
             "From notebook 10 (`figures/fig10a_shared_throughput_ratio`, `fig10b_shared_fronts`, "
             "`fig10c_curve_vs_line`). The paper's sweep, Fig. 3 and Fig. 4 rerun with HB-WCC and LB-WCC as "
             "shared channels (`hb-wcc-shared`, `lb-wcc-shared`: all transmitters on a medium take turns on one "
             "channel; same energy per bit; PCIe-5 stays point-to-point). Modelled, like everything above.", "",
             "| # | claim | verdict (independent → shared) | ours with shared channels |", "|---|---|---|---|"]
    for i, r in enumerate(c.itertuples(), 1):
        if bool(r.numbers_moved):
            arrow = r.verdict_independent + (f" → **{r.verdict_shared}**" if r.verdict_moved else " (unchanged)")
            lines.append(f"| {i} | {md_cell(r.claim)} | {arrow} | {md_cell(r.ours_shared)} |")
    still = [str(i) for i, r in enumerate(c.itertuples(), 1) if not bool(r.numbers_moved)]
    lines += ["", f"Claims whose numbers do not move: {', '.join(still) if still else 'none'} (numbering of the "
              "claims table above)."]
    lines += ["", "Per medium and model, exact solver, over the clusters × the α grid: plans that change, throughput "
              "shared / independent (lowest, median), plans limited by the shared channel:", "",
              "| medium | model | scenarios | plans changed | throughput ratio min | median | channel-bound |",
              "|---|---|---|---|---|---|---|"]
    for r in shift_summary(cmp).itertuples():
        lines.append(f"| {r.base_medium} | {r.model} | {r.scenarios} | {r.plans_changed} | "
                     f"{_fmt_ratio(r.throughput_ratio_min)} | {_fmt_ratio(r.throughput_ratio_median)} | "
                     f"{r.channel_bound} |")
    pa = cmp[cmp["solver"] == "paper"]
    lines += ["", "Channel-bound: the exact plan's bottleneck under sharing is the channel's busy time. Algorithm 1 "
              "ignores the channel while it searches (its plans never change; they are costed under sharing): its "
              f"throughput ratio falls to {_fmt_ratio(pa['throughput_ratio'].min())} (median "
              f"{_fmt_ratio(pa['throughput_ratio'].median())})."]
    lines += _named_claims(t)
    ex = cmp[cmp["solver"] == "exact"]
    lines += ["", f"Re-planning for the shared channel against keeping the independent plan (exact, all radio "
              f"scenarios): the kept plan's bottleneck is up to {_fmt_ratio(ex['replan_gain'].max())}× the "
              f"re-planned one's; energy of the same plan is unchanged in every scenario "
              "(largest relative difference "
              f"{(ex['indep_plan_shared_energy_j'] / ex['energy_j_independent'] - 1).abs().max():.1g})."]
    if "curve" in t and not t["curve"].empty:
        cv = t["curve"]
        lines += ["", f"Size-dependent transport (measured loopback `time_curve` against its fitted line, as if it "
                  f"linked the paper's devices; {len(cv)} model × cluster × α scenarios, {cv['solver'].iloc[0]} "
                  f"solver): the plan changes in {int(cv['plan_changed'].sum())}; throughput curve / line from "
                  f"{_fmt_ratio(cv['throughput_ratio'].min())} to {_fmt_ratio(cv['throughput_ratio'].max())}; "
                  f"the line's plan run under the curve is up to {_fmt_ratio(cv['line_plan_loss'].max())}× slower "
                  "than the curve's plan."]
    return "\n".join(lines) + "\n"
