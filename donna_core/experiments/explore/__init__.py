"""The interactive α explorer (notebook 05, ``make app``), in parts of one idea each:

* :mod:`.views` — pure front maths and views (α intervals, the α-optimum with the solver's tie rule, tables);
* :mod:`.data` — cached profiles / problems / fronts of a setting, the size guard, the unit inspector's tables;
* :mod:`.render` — HTML of the tables, summary and status line (the figures are in :mod:`..plotting`);
* :mod:`.graph_views`, :mod:`.graph_data`, :mod:`.graph_render`, :mod:`.graph_app` — graph placement of graph
  models (any unit on any device): layered DAG layout and tables, the graph problem and solve, the figures, and
  the app's panel;
* :mod:`.child` — what runs in the isolated, memory-capped child process;
* :mod:`.app` — the ipywidgets app (:class:`Explorer`, :func:`build_ui`).

The names below are the public API the notebooks, tests and scripts use.
"""
from .app import BOUNDED_TIME_S, PRERENDER_NEIGHBOURS, SOLVE_TIMEOUT_S, Explorer, build_ui
from .child import bounded_in_child, front_in_child, graph_in_child, paper_in_child
from .data import (DEFAULT_DIR, LARGE_FRONT_STATES, SOLVE_MEMORY_BYTES, UNIT_COLUMNS, available_models, cached_front,
                   cached_problem, cached_profiles, pick_types, plan_view, profile_view, setting_name, size_check,
                   split_model, type_choices, type_files, types_key, unit_table)
from .graph_data import GRAPH_TIME_LIMIT_S, cached_graph_problem, graph_plan_view
from .graph_views import (busy_table, device_colours, gantt_bars, graph_view, is_graph_model, layered_layout,
                          longest_path_layers, model_options)
from .render import provenance_html, stages_html, status_html, summary_html, table_html
from .views import (ExploreError, alpha_intervals, bottleneck_part, bounded_view, device_counts, exact_index,
                    front_table, interval_text, make_view, nearest_point, setting_label, stages_table)

__all__ = ["BOUNDED_TIME_S", "PRERENDER_NEIGHBOURS", "SOLVE_TIMEOUT_S", "Explorer", "build_ui", "bounded_in_child",
           "front_in_child", "paper_in_child", "DEFAULT_DIR", "LARGE_FRONT_STATES", "SOLVE_MEMORY_BYTES",
           "UNIT_COLUMNS", "available_models", "cached_front", "cached_problem", "cached_profiles", "pick_types",
           "plan_view", "profile_view", "setting_name", "size_check", "split_model", "type_choices", "type_files",
           "types_key", "unit_table", "provenance_html", "stages_html", "status_html", "summary_html",
           "table_html", "ExploreError", "alpha_intervals", "bottleneck_part", "bounded_view", "device_counts",
           "exact_index", "front_table", "interval_text", "make_view", "nearest_point", "setting_label",
           "stages_table", "graph_in_child", "GRAPH_TIME_LIMIT_S", "cached_graph_problem", "graph_plan_view",
           "busy_table", "device_colours", "gantt_bars", "graph_view", "is_graph_model", "layered_layout",
           "longest_path_layers", "model_options"]
