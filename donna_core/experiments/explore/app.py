"""The explorer's widget app (notebook 05, ``make app``): controls that only record a request, and a
latest-only worker (:mod:`..background`) that solves in a forked, memory-capped child, renders and shows.

Superseded settings are cancelled, a blow-up is reported in one line, and the kernel survives.
"""
from __future__ import annotations

import collections
import threading
import time

from .. import scenario_profiles as sp
from .. import scenarios as sc
from .child import bounded_in_child, front_in_child, paper_in_child
from .graph_app import GraphPanel
from .graph_views import is_graph_model, model_options
from .data import (INLINE_FRONT_STATES, SOLVE_MEMORY_BYTES, available_models, cached_problem, cached_profiles,
                   front_states, pick_types, profile_view, size_check, type_choices, type_files, types_key,
                   unit_table)
from .render import provenance_html, stages_html, status_html, summary_html, table_html
from .views import ExploreError, bounded_view, device_counts, front_table, make_view, nearest_point, setting_label

SOLVE_TIMEOUT_S = 300.0
BOUNDED_TIME_S = 10.0  # time limit of the bounded solver used when the exact front does not fit the budget
FIRST_PLAN_WAIT_S = 30.0  # the inspector waits at most this long for the first plan
PRERENDER_NEIGHBOURS = 24  # front points around the shown one drawn ahead (~0.1-0.3 s each on this machine)


class Explorer:
    """The widget app. Control changes only record a request; a latest-only worker computes and draws it.

    ``profiles_dir`` None: :func:`donna_core.config.profiles_root` ($DONNA_PROFILES or the
    repository's). Every (model, granularity) with a profile for each role is offered; the CPU and GPU type
    pickers list the model's profiles of that role. ``cpu``/``gpu`` are the types chosen first where the model has
    them: a preset of ``scenarios.device_files`` ("paper", "host") or a profile file stem (``cpu-mine``).
    ``inline=True`` computes synchronously in the caller and in this process (tests, scripts).
    """

    def __init__(self, profiles_dir: str | None = None, cpu: str = "paper", max_count: int = 4,
                 cpu_power_w: float | None = None, inline: bool = False, memory_bytes: int = SOLVE_MEMORY_BYTES,
                 timeout_s: float = SOLVE_TIMEOUT_S, model: str | None = None, gpu: str | None = None):
        import ipywidgets as w

        from ...profiling.catalog import profile_catalog
        from ...config import profiles_root
        from ..background import LatestOnly

        self.profiles_dir, self.cpu_power_w = str(profiles_dir or profiles_root()), cpu_power_w
        self.inline, self.memory_bytes, self.timeout_s = inline, memory_bytes, timeout_s
        self._entries = profile_catalog(self.profiles_dir)
        models = available_models(self.profiles_dir)
        if not models:
            raise ExploreError(f"no model under {self.profiles_dir} has a profile for every device role "
                               f"(cpu-*, gpu-*, cim*)")
        # the types asked for, tried first for every model (then the paper's, then the first listed)
        paper = sp.device_files("paper")
        self._preferred = dict(type_files(cpu)) if cpu in ("paper", "host") else {**paper, "cpu": cpu}
        if gpu is not None:
            self._preferred["gpu"] = gpu
        self._fronts: dict = {}          # setting key -> ("ok", [Result]) | ("infeasible" | "error", message)
        self._warnings: dict = {}        # setting key -> size warning shown with its plans
        self._paper: dict = {}           # (setting key, α) -> Result
        self._png: collections.OrderedDict = collections.OrderedDict()  # (key, plan, paper?) -> PNG bytes
        self._front_imgs: collections.OrderedDict = collections.OrderedDict()  # key -> plotting.FrontImage
        self._render_lock = threading.Lock()  # matplotlib is not thread-safe across figures' text rendering
        self._syncing = False
        self._first_plan = threading.Event()  # set once the first planner job has ended (shown or failed)
        self._latest_key = None
        self._shown_front_key = None
        self.timings: collections.deque = collections.deque(maxlen=200)  # (what, seconds) of recent jobs

        lay = w.Layout
        if model is not None and model not in models:
            raise ExploreError(f"model {model!r} has no complete profiles under {self.profiles_dir}; "
                               f"available: {models}")
        first = model or ("resnet152" if "resnet152" in models else models[0])
        # graph models (granularity "graph") are labelled as graph placement: any unit on any device
        self.model = w.Dropdown(options=model_options(models), value=first, description="model",
                                layout=lay(width="330px")).add_class("donna-model")
        self.type_pickers = {r: w.Dropdown(description=f"{r.upper()} type", layout=lay(width="330px"))
                             .add_class(f"donna-{r}-type") for r in ("cpu", "gpu")}
        self.provenance = w.HTML().add_class("donna-provenance-box")
        self._types = {}
        self._sync_types(first)
        self.medium = w.Dropdown(options=[(sc.MEDIUM_LABELS[m], m) for m in sc.PAPER_MEDIA], value="hb-wcc",
                                 description="medium").add_class("donna-medium")
        self.solver = w.ToggleButtons(options=["exact", "paper"], value="exact", description="solver",
                                      tooltips=["exact optimum (on the Pareto front)", "the paper's Algorithm 1"])
        self.solver.add_class("donna-solver")
        self.n = {r: w.IntSlider(value=v, min=0, max=max_count, description=f"# {r}", continuous_update=False)
                  .add_class(f"donna-n-{r}") for r, v in (("cpu", 2), ("gpu", 1), ("cim", 1))}
        self.alpha = w.FloatSlider(value=1.0, min=0.0, max=1.0, step=0.01, description="α", readout_format=".2f",
                                   continuous_update=True, layout=lay(width="600px")).add_class("donna-alpha")
        # continuous_update=False: the browser's slider then reports only what the user does (drag end, click,
        # keys); with True it also sends back every position the kernel sets, clamped to the range it had then —
        # after a front change, a pick of a plan that is not α-optimal
        self.point = w.SelectionSlider(options=[("—", -1)], value=-1, description="front point",
                                       continuous_update=False, layout=lay(width="600px")).add_class("donna-point")
        self.status = w.HTML(status_html("ok", "ready")).add_class("donna-status-box")
        self.summary = w.HTML().add_class("donna-summary-box")
        # widths = figure inches x plotting.EXPLORER_DPI, so the PNGs show at their native size
        self.plan_img = w.Image(format="png", layout=lay(width="576px")).add_class("donna-plan-image")
        self.front_img = w.Image(format="png", layout=lay(width="468px")).add_class("donna-front-image")
        self._clicks = self._watch_clicks(self.front_img)
        self.stages = w.HTML().add_class("donna-stages-box")
        self.graph = GraphPanel(self)

        self.roles = w.SelectMultiple(options=["cpu", "gpu", "cim"], value=("cpu", "gpu", "cim"),
                                      description="devices", rows=3).add_class("donna-roles")
        self.metric = w.Dropdown(options=[("time", "time_s"), ("energy", "energy_j")], value="time_s",
                                 description="metric").add_class("donna-metric")
        self.sort_by = w.Dropdown(options=[("unit index", "unit_index"), ("unit name", "unit"), ("kind", "kind"),
                                           ("device role", "role"), ("time", "time_s"), ("energy", "energy_j"),
                                           ("output bytes", "out_bytes"), ("data source", "source")],
                                  value="unit_index", description="sort by").add_class("donna-sort")
        self.descending = w.Checkbox(value=False, description="descending").add_class("donna-desc")
        self.unit_img = w.Image(format="png", layout=lay(width="594px")).add_class("donna-unit-image")
        # natural width (every column visible): the row wraps the table below the figure when it does not fit
        self.units = w.HTML(layout=lay(max_height="420px", overflow="auto")).add_class("donna-units")
        self.i_status = w.HTML().add_class("donna-inspector-status")

        self._planner_jobs = LatestOnly(self._job_failed, inline)
        self._inspector_jobs = LatestOnly(lambda text: self._set_inspector_status("error", text), inline)

        self.model.observe(self._model_changed, names="value")
        for wd in self.type_pickers.values():
            wd.observe(self._type_picked, names="value")
        for wd in (self.medium, self.solver, *self.n.values()):
            wd.observe(lambda _: self.request("setting"), names="value")
        self.alpha.observe(lambda _: self.request("alpha"), names="value")
        self.point.observe(self._point_moved, names="value")
        for wd in (self.roles, self.metric, self.sort_by, self.descending):
            wd.observe(lambda _: self.request_inspector(), names="value")

        chain_figures = w.HBox([self.plan_img, self.front_img])
        self._chain_only = [self.solver, self.point, chain_figures, self.stages]
        planner = w.VBox([w.HBox([self.medium, self.solver]), self.graph.controls, w.HBox(list(self.n.values())),
                          self.alpha, self.point, self.status, chain_figures, self.graph.figures, self.summary,
                          self.stages, self.graph.devices])
        self._show_mode(first)
        inspector = w.VBox([w.HBox([self.roles, self.metric, w.VBox([self.sort_by, self.descending])]), self.i_status,
                            w.HBox([self.unit_img, self.units], layout=lay(flex_flow="row wrap"))])
        self.tabs = w.Tab(children=[planner, inspector])
        self.tabs.set_title(0, "plan explorer")
        self.tabs.set_title(1, "profile inspector")
        self.widget = w.VBox([w.HBox([self.model, *self.type_pickers.values()]), self.provenance,
                              self.tabs]).add_class("donna-explorer")
        self.request("setting")
        self.request_inspector()

    # -------------------------------------------------------------- device types
    def _sync_types(self, model: str) -> None:
        """Fill the type pickers with ``model``'s profiles; keep the types chosen so far where it has them."""
        choices = type_choices(self._entries, model)
        self._types = pick_types(choices, self._types, self._preferred)
        self._syncing = True
        try:
            for r, wd in self.type_pickers.items():
                with wd.hold_sync():
                    wd.options = [(e.label(), e.device_type) for e in choices[r]]
                    wd.value = self._types[r]
        finally:
            self._syncing = False
        self._show_provenance(choices)

    def _show_provenance(self, choices: dict) -> None:
        self.provenance.value = provenance_html(next(e for e in choices[r] if e.device_type == self._types[r])
                                                for r in ("cpu", "gpu", "cim"))

    def chosen_types(self) -> tuple:
        """The device types chosen now, as role/stem pairs (``types`` of :mod:`.data`'s functions)."""
        return types_key(self._types)

    def _show_mode(self, model: str) -> None:
        """Show the chain planner's widgets or the graph panel's, as ``model`` needs."""
        graph = is_graph_model(model)
        for wd in self._chain_only:
            wd.layout.display = "none" if graph else ""
        for wd in self.graph.widgets():
            wd.layout.display = "" if graph else "none"
        self.sync_alpha()

    def sync_alpha(self) -> None:
        """α does not enter the latency objective: its slider is disabled while a graph model minimises latency."""
        self.alpha.disabled = is_graph_model(self.model.value) and self.graph.objective.value == "latency"

    def _model_changed(self, change) -> None:
        self._show_mode(change["new"])
        self._sync_types(change["new"])
        self.request("setting")
        self.request_inspector()

    def _type_picked(self, change) -> None:
        if self._syncing or change["new"] is None:
            return
        self._types = {**self._types, **{r: wd.value for r, wd in self.type_pickers.items()}}
        self._show_provenance(type_choices(self._entries, self.model.value))
        self.request("setting")
        self.request_inspector()

    def _watch_clicks(self, image):
        """Clicking a point of the front figure picks it (needs ipyevents; without it the slider still works)."""
        try:
            from ipyevents import Event
        except ImportError:
            return None
        ev = Event(source=image, watched_events=["click"], prevent_default_action=True)
        ev.on_dom_event(self._front_clicked)
        return ev

    def _front_clicked(self, event: dict) -> None:
        key = self._shown_front_key
        fi = self._front_imgs.get(key)
        status, front = self._fronts.get(key, (None, None))
        if fi is None or status != "ok" or "dataX" not in event:
            return
        i = nearest_point(fi.pixels([f.throughput_ips for f in front], [f.energy_j for f in front]),
                          event["dataX"], event["dataY"])
        if i is not None:
            self.point.value = i  # the slider's observer requests the view, like a slider move

    # -------------------------------------------------------------- display / waiting
    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)

    def wait_idle(self, timeout_s: float = 120.0) -> bool:
        return self._planner_jobs.wait_idle(timeout_s) and self._inspector_jobs.wait_idle(timeout_s)

    # -------------------------------------------------------------- requests (control callbacks: record only)
    def _setting(self) -> dict:
        counts = device_counts(self.n["cpu"].value, self.n["gpu"].value, self.n["cim"].value)
        return {"model": self.model.value, "medium": self.medium.value, "counts": counts,
                "types": types_key(self._types)}

    def _key(self, s: dict) -> tuple:
        return (s["model"], s["medium"], s["counts"], s["types"], self.profiles_dir, self.cpu_power_w)

    def request(self, mode: str = "alpha", point: int | None = None) -> None:
        """Ask for the view of the current controls; ``mode`` "point" shows front point ``point``."""
        if self._syncing:
            return
        try:
            s = self._setting()
        except ExploreError as exc:
            # bind the message now: Python unbinds ``exc`` when the except block ends, before the worker runs
            message = str(exc)
            self._latest_key = None
            self._planner_jobs.submit(lambda stale: self._clear_plan(message))
            return
        s.update(alpha=float(self.alpha.value), solver=self.solver.value, mode=mode, point=point,
                 t0=time.perf_counter(), **self.graph.settings())
        key = self._key(s)
        self._latest_key = key
        if key not in self._fronts and not is_graph_model(s["model"]):
            label = setting_label(s["model"], s["medium"], s["counts"])
            self._set_status("busy", f"solving the exact front for {label} …")
        self._planner_jobs.submit(lambda stale: self._plan_job_then_inspector(s, stale))

    def _point_moved(self, change) -> None:
        if not self._syncing and change["new"] is not None and change["new"] >= 0:
            self.request("point", int(change["new"]))

    def request_inspector(self) -> None:
        s = {"model": self.model.value, "types": types_key(self._types), "roles": tuple(self.roles.value),
             "metric": self.metric.value,
             "sort_by": self.sort_by.value, "descending": bool(self.descending.value), "t0": time.perf_counter()}
        self._inspector_jobs.submit(lambda stale: self._inspector_job(s, stale))

    # -------------------------------------------------------------- jobs (worker thread)
    def _set_status(self, kind: str, text: str) -> None:
        self.status.value = status_html(kind, text)

    def _set_inspector_status(self, kind: str, text: str) -> None:
        self.i_status.value = status_html(kind, text) if text else ""

    def _plan_job_then_inspector(self, s: dict, stale) -> None:
        try:
            if is_graph_model(s["model"]):
                self.graph.job(s, stale)
            else:
                self._plan_job(s, stale)
        finally:
            self._first_plan.set()

    def _clear_plan(self, message: str) -> None:
        self._first_plan.set()
        self._set_status("error", message)
        self.plan_img.value = self.front_img.value = b""
        self.summary.value = self.stages.value = ""
        self.graph.clear()

    def profiles_for(self, s: dict) -> dict:
        """Role → TypeProfile of a request's model and device types (cached)."""
        return cached_profiles(s["model"], s["types"], self.profiles_dir, self.cpu_power_w)

    def _job_failed(self, text: str) -> None:
        # no plan of the previous setting stays on screen under the error
        self._clear_plan(f"cannot show this setting: {text}")

    def _front(self, key: tuple, s: dict, stale) -> tuple:
        """The front of ``key``: cached, or solved now (isolated unless inline), cancelled once superseded."""
        from ..background import IsolatedError, run_isolated

        if key in self._fronts:
            return self._fronts[key]
        d, p = cached_problem(*key)
        ok, size_msg = size_check(p, "exact", None, self.memory_bytes)
        label = setting_label(s["model"], s["medium"], s["counts"])
        if not ok:
            found = ("too-large", size_msg)
            self._fronts[key] = found
            return found
        self._set_status("busy", f"solving the exact front for {label} ({size_msg}) …")
        t0 = time.perf_counter()
        try:
            if self.inline or front_states(p) <= INLINE_FRONT_STATES:
                found = front_in_child(p, int(self.memory_bytes * 0.8))
            else:
                # the solver's own budget is below the child's hard limit, so it refuses before the OS would
                found = run_isolated(front_in_child, p, int(self.memory_bytes * 0.8), memory_bytes=self.memory_bytes,
                                     timeout_s=self.timeout_s, is_stale=lambda: self._latest_key != key)
        except IsolatedError as exc:
            found = ("error", f"{label}: the exact front {exc}; choose fewer devices")
        self.timings.append(("front", time.perf_counter() - t0))
        if found[0] == "infeasible":
            found = ("infeasible", f"{label}: nothing fits the devices' memory ({found[1]})")
        if size_msg.startswith("large"):
            self._warnings[key] = size_msg
        self._fronts[key] = found
        return found

    def _paper_result(self, key: tuple, p, alpha: float, stale):
        from ..background import IsolatedError, run_isolated

        k = (key, alpha)
        if k not in self._paper:
            self._set_status("busy", f"solving the paper's DP at α = {alpha:.2f} …")
            try:
                self._paper[k] = (paper_in_child(p, alpha) if self.inline else
                                  run_isolated(paper_in_child, p, alpha, memory_bytes=self.memory_bytes,
                                               timeout_s=self.timeout_s, is_stale=stale))
            except IsolatedError as exc:
                raise ExploreError(f"the paper's DP {exc}") from None
        return self._paper[k]

    def _plan_job(self, s: dict, stale) -> None:
        key = self._key(s)
        status, front = self._front(key, s, stale)
        if stale():
            return
        if status == "too-large" and s["mode"] != "point":
            self._show_bounded(key, s, front, stale)
            return
        if status != "ok":
            self._clear_plan(front)
            return
        d, p = cached_problem(*key)
        point = s["point"] if s["mode"] == "point" else None
        paper = None
        if s["solver"] == "paper" and point is None:
            paper = self._paper_result(key, p, s["alpha"], stale)
            if stale():
                return
        label = setting_label(s["model"], s["medium"], s["counts"])
        view = make_view(d, front, s["alpha"], s["solver"], point, paper, label)
        plan_png = self._plan_png(key, view, paper is not None)
        front_png = self._front_image(key, view, label).png(view["current"])
        if stale():
            return
        self._show_plan(key, front, view, plan_png, front_png, s)
        self._first_plan.set()
        self._prerender(key, d, front, label, stale, view["index"])

    def _show_bounded(self, key: tuple, s: dict, why: str, stale) -> None:
        """The exact front does not fit the budget: show the bounded solver's plan at α (with its certified gap)."""
        from ..background import IsolatedError, run_isolated

        d, p = cached_problem(*key)
        k = (key, s["alpha"], "bounded")
        if k not in self._paper:
            self._set_status("busy", f"exact front too large; bounded solver at α = {s['alpha']:.2f} "
                                     f"(≤ {BOUNDED_TIME_S:g} s) …")
            try:
                self._paper[k] = (bounded_in_child(p, s["alpha"], BOUNDED_TIME_S) if self.inline else
                                  run_isolated(bounded_in_child, p, s["alpha"], BOUNDED_TIME_S,
                                               memory_bytes=self.memory_bytes, timeout_s=self.timeout_s,
                                               is_stale=stale))
            except IsolatedError as exc:
                self._clear_plan(f"{why}; the bounded solver failed too: {exc}")
                return
        if stale():
            return
        r = self._paper[k]
        view = bounded_view(d, r, s["alpha"], setting_label(s["model"], s["medium"], s["counts"]))
        png = self._plan_png(key, view, True)
        profs = self.profiles_for(s)
        self._syncing = True
        try:
            self.point.options = [("— (no front)", -1)]
            self._shown_front_key = None
        finally:
            self._syncing = False
        self.plan_img.value = png
        self.front_img.value = b""
        self.summary.value = summary_html(view, s["alpha"], "; ".join(
            pr.label for r_, pr in profs.items() if dict(s["counts"]).get(r_)))
        self.stages.value = stages_html(view["stages"])
        self._set_status("warn", f"{why} — showing the bounded solver's plan at α = {s['alpha']:.2f} instead "
                                 f"(certified gap {view['summary']['gap']:.3%}); front points cannot be picked")
        self.timings.append((s["mode"], time.perf_counter() - s["t0"]))

    def _prerender(self, key: tuple, d: dict, front: list, label: str, stale, center: int | None) -> None:
        """While idle, draw the plans a user reaches next: those some α selects, then the front neighbours of
        the plan shown (nearest first, up to :data:`PRERENDER_NEIGHBOURS`). Stops as soon as a request arrives,
        so it delays that request by one drawing at most."""
        iv = front_table(front)["alpha_lo"].notna().to_numpy()
        order = [i for i in range(len(front)) if iv[i]]
        if center is not None:
            near = sorted(range(len(front)), key=lambda i: (abs(i - center), i))[:PRERENDER_NEIGHBOURS + 1]
            order += [i for i in near if i not in order]
        for i in order:
            if stale():
                return
            self._plan_png(key, make_view(d, front, 1.0, "exact", i, None, label), False)

    def _front_image(self, key: tuple, view: dict, label: str):
        from .. import plotting

        if key not in self._front_imgs:
            with self._render_lock:
                self._front_imgs[key] = plotting.FrontImage(view["front"], f"exact Pareto front: {label}")
            while len(self._front_imgs) > 16:
                self._front_imgs.popitem(last=False)
        return self._front_imgs[key]

    def _plan_png(self, key: tuple, view: dict, is_paper: bool) -> bytes:
        from .. import plotting

        ck = (key, view["summary"]["plan"], is_paper)
        if ck not in self._png:
            title = (f"{view['summary']['how'] if is_paper else 'plan'}: {view['summary']['throughput_ips']:.4g} "
                     f"inf/s, {view['summary']['energy_j']:.4g} J per inference")
            with self._render_lock:
                self._png[ck] = plotting.png_bytes(plotting.plan_figure(view["stages"], view["n_units"], title))
            while len(self._png) > 512:
                self._png.popitem(last=False)
        return self._png[ck]

    def _show_plan(self, key: tuple, front: list, view: dict, plan_png: bytes, front_png: bytes, s: dict) -> None:
        self._syncing = True
        # one message with the new options and the new position (see the point slider's continuous_update)
        try:
            with self.point.hold_sync():
                if self._shown_front_key != key:
                    ftab = view["front"]
                    # slider runs from the most frugal (α = 0 end) to the fastest (α = 1 end), like the α slider
                    self.point.options = [(f"{i + 1}/{len(ftab)}: {r.throughput_ips:.4g}/s {r.energy_j:.3g} J", k)
                                          for i, k in enumerate(range(len(ftab) - 1, -1, -1))
                                          for r in [ftab.iloc[k]]]
                    self._shown_front_key = key
                if view["index"] is not None:
                    self.point.value = view["index"]
        finally:
            self._syncing = False
        profs = self.profiles_for(s)
        sources = "; ".join(p.label for r, p in profs.items() if dict(s["counts"]).get(r))
        self.plan_img.value = plan_png
        self.front_img.value = front_png
        self.summary.value = summary_html(view, s["alpha"], sources)
        self.stages.value = stages_html(view["stages"])
        if key in self._warnings:
            self._set_status("warn", f"{setting_label(s['model'], s['medium'], s['counts'])}: exact front of "
                                     f"{len(front)} plans — {self._warnings[key]}")
        else:
            self._set_status("ok", f"{setting_label(s['model'], s['medium'], s['counts'])}: exact front of "
                                   f"{len(front)} plans; pick any point, or move α")
        self.timings.append((s["mode"], time.perf_counter() - s["t0"]))

    def _inspector_job(self, s: dict, stale) -> None:
        from .. import plotting

        # the inspector's tab is hidden at start: let the first plan have the CPU (both draw with matplotlib)
        if not self.inline:
            self._first_plan.wait(FIRST_PLAN_WAIT_S)

        try:
            table = unit_table(s["model"], s["roles"], s["sort_by"], s["descending"], s["types"],
                               self.profiles_dir, self.cpu_power_w)
            long = profile_view(s["model"], s["roles"], s["metric"], s["types"], self.profiles_dir,
                                self.cpu_power_w)
        except ValueError as exc:   # ExploreError, or a profile that cannot be used (ScenarioError, ProfileError)
            self._set_inspector_status("error", str(exc))
            self.unit_img.value = b""
            self.units.value = ""
            return
        if stale():
            return
        with self._render_lock:
            png = plotting.png_bytes(plotting.unit_profile_figure(long, s["metric"]))
        if stale():
            return
        shown = table.assign(time_ms=table["time_s"] * 1e3, energy_mj=table["energy_j"] * 1e3)
        shown = shown.assign(runs=shown["may_run"].map({True: "yes", False: "no (not a plan option)"}))
        shown = shown[["unit_index", "unit", "kind", "role", "time_ms", "energy_mj", "out_bytes", "runs", "source"]]
        self.unit_img.value = png
        self.units.value = table_html(shown.rename(columns={"time_ms": "time [ms]", "energy_mj": "energy [mJ]"}),
                                      "donna-unit-table")
        self._set_inspector_status("", "")
        self.timings.append(("inspector", time.perf_counter() - s["t0"]))


def build_ui(profiles_dir: str | None = None, cpu: str = "paper", max_count: int = 4,
             cpu_power_w: float | None = None, inline: bool = False, model: str | None = None,
             gpu: str | None = None) -> Explorer:
    """The explorer app (display it in a Jupyter front end or serve the notebook with Voilà: ``make app``)."""
    return Explorer(profiles_dir, cpu, max_count, cpu_power_w, inline, model=model, gpu=gpu)
