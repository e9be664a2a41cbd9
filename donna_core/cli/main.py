"""The ``donna`` command line: builds the parser from the sub-command modules and maps errors to exit codes.

Exit codes: 0 success; 2 bad input (malformed file, unknown name, bad value: one line on stderr naming the
field); 3 no feasible plan (memory limits). A user mistake never prints a traceback.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from ..partition.costs import PlanError
from ..partition.exact import InfeasibleError

# Sub-command modules; each defines ``register(subparsers)`` and sets ``func`` on its parsers.
COMMAND_MODULES = ["donna_core.cli.solve_cmd", "donna_core.cli.profile_cmd",
                   "donna_core.cli.run_cmd"]  # run_cmd: issue 9 (runtime)

EXIT_BAD_INPUT = 2
EXIT_INFEASIBLE = 3


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="donna", description="DONNA: pipeline partitioning over heterogeneous "
                                 "devices, trading throughput against energy.")
    sub = ap.add_subparsers(dest="command", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return ap


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except InfeasibleError as exc:
        print(f"donna: no feasible plan: {exc}", file=sys.stderr)
        return EXIT_INFEASIBLE
    except (ValueError, PlanError, FileNotFoundError) as exc:   # ProblemError and every user error
        print(f"donna: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
