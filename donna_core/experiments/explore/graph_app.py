"""The explorer's graph-placement panel: its controls, figures and the job that solves and draws a graph setting.

The :class:`..app.Explorer` owns the shared controls (model, device types, medium, counts, α), the status line
and the summary; for a graph model it hides the chain-only widgets (solver, front point, plan / front figures,
stage table), shows this panel's and hands the request to :meth:`GraphPanel.job` on its latest-only worker.
"""
from __future__ import annotations

import collections
import time

from .child import graph_in_child
from .graph_data import GRAPH_TIME_LIMIT_S, cached_graph_problem
from .graph_render import busy_figure, devices_html, graph_figure, graph_summary_html, legend_html
from .graph_views import GRAPH_OBJECTIVES, GRAPH_SOLVERS, graph_view
from .views import setting_label

MAX_CACHED = 256


class GraphPanel:
    """Widgets and job of graph placement inside an :class:`..app.Explorer` (``owner``)."""

    def __init__(self, owner, time_limit_s: float = GRAPH_TIME_LIMIT_S):
        import ipywidgets as w

        self.owner, self.time_limit_s = owner, float(time_limit_s)
        lay = w.Layout
        self.objective = w.ToggleButtons(options=list(GRAPH_OBJECTIVES), value="alpha", description="objective",
                                         tooltips=["α · bottleneck + (1 − α) · energy (normalised)",
                                                   "single-inference latency (makespan of one inference)"])
        self.objective.add_class("donna-graph-objective")
        self.solver = w.ToggleButtons(options=list(GRAPH_SOLVERS), value="exact", description="graph solver",
                                      tooltips=[f"HiGHS MILP, ≤ {self.time_limit_s:g} s: proved optimal or the best "
                                                "plan with its certified gap", "local search with a certified "
                                                "lower bound", "HEFT list scheduler (baseline)"])
        self.solver.add_class("donna-graph-solver")
        self.graph_img = w.Image(format="png", layout=lay(width="576px")).add_class("donna-graph-image")
        self.busy_img = w.Image(format="png", layout=lay(width="468px")).add_class("donna-graph-busy-image")
        self.legend = w.HTML().add_class("donna-graph-legend")
        self.devices = w.HTML().add_class("donna-graph-devices-box")
        self.controls = w.HBox([self.objective, self.solver])
        self.figures = w.VBox([self.legend, w.HBox([self.graph_img, self.busy_img])])
        self._results: collections.OrderedDict = collections.OrderedDict()  # request key -> (status, result)
        for wd in (self.objective, self.solver):
            wd.observe(lambda _: owner.request("setting"), names="value")
        self.objective.observe(lambda _: owner.sync_alpha(), names="value")

    def widgets(self) -> list:
        """The widgets shown only for graph models."""
        return [self.controls, self.figures, self.devices]

    def settings(self) -> dict:
        return {"objective": self.objective.value, "graph_solver": self.solver.value}

    def clear(self) -> None:
        self.graph_img.value = self.busy_img.value = b""
        self.legend.value = self.devices.value = ""

    def _solve(self, key: tuple, d: dict, p, s: dict, stale):
        """(status, result) of a graph request: cached, or solved now (isolated unless inline)."""
        from ..background import IsolatedError, run_isolated

        o = self.owner
        alpha = s["alpha"] if s["objective"] == "alpha" else 1.0   # the latency plan does not depend on α
        rk = (key, s["objective"], s["graph_solver"], alpha, self.time_limit_s)
        if rk in self._results:
            return self._results[rk]
        solver = dict((v, k) for k, v in GRAPH_SOLVERS)[s["graph_solver"]]
        o._set_status("busy", f"graph placement of {setting_label(s['model'], s['medium'], s['counts'])}: "
                              f"{solver} (≤ {self.time_limit_s:g} s) …")
        args = (p, alpha, s["objective"], s["graph_solver"], self.time_limit_s)
        t0 = time.perf_counter()
        try:
            found = (graph_in_child(*args) if o.inline else
                     run_isolated(graph_in_child, *args, memory_bytes=o.memory_bytes, timeout_s=o.timeout_s,
                                  is_stale=stale))
        except IsolatedError as exc:
            return "error", f"the graph solve {exc}"
        o.timings.append(("graph-solve", time.perf_counter() - t0))
        self._results[rk] = found
        while len(self._results) > MAX_CACHED:
            self._results.popitem(last=False)
        return found

    def job(self, s: dict, stale) -> None:
        """Solve (or take from the cache) and show one graph setting; returns early once superseded."""
        from .. import plotting

        o = self.owner
        key = o._key(s)
        d, p = cached_graph_problem(*key)
        status, r = self._solve(key, d, p, s, stale)
        if stale():
            return
        if status != "ok":
            o._clear_plan(r)
            return
        label = setting_label(s["model"], s["medium"], s["counts"])
        view = graph_view(d, r, s["alpha"], s["objective"], s["graph_solver"], self.time_limit_s, label)
        with o._render_lock:
            graph_png = plotting.png_bytes(graph_figure(view))
            busy_png = plotting.png_bytes(busy_figure(view))
        if stale():
            return
        profs = o.profiles_for(s)
        self.graph_img.value, self.busy_img.value = graph_png, busy_png
        self.legend.value = legend_html(view)
        self.devices.value = devices_html(view)
        o.summary.value = graph_summary_html(view, "; ".join(
            pr.label for r_, pr in profs.items() if dict(s["counts"]).get(r_)))
        proved = view["summary"]["optimality"]
        o._set_status("ok" if proved.startswith("proved") else "warn", f"{label}: graph placement — {proved}")
        o.timings.append(("graph", time.perf_counter() - s["t0"]))
