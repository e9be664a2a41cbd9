"""The ``donna`` command and its sub-commands (solve, pareto, profile, problem).

Entry point: :func:`donna_core.cli.main.main`; each ``*_cmd`` module registers its sub-commands.
"""
