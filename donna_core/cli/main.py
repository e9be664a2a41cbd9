"""The ``donna`` command line: builds the parser from the sub-command modules and maps errors to exit codes.

Exit codes: 0 success; 1 the system failed us (disk full, I/O error: one line); 2 bad input (malformed file,
unknown name, bad value, unusable path: one line on stderr naming the file and field); 3 no feasible plan
(memory limits, per-unit eligibility); 130 interrupted (Ctrl-C); 141 standard output closed early (e.g. piped
into ``head``), silently. A user mistake never prints a traceback.

Start-up matters (``donna solve`` is run in loops by scripts): this module and ``register`` of every
sub-command import neither torch nor pandas nor the solvers; each command imports what it needs when it runs.
"""
from __future__ import annotations

import argparse
import errno
import importlib
import os
import sys

from ..partition.errors import InfeasibleError
from ..untrusted import terminal_safe

# Sub-command modules; each defines ``register(subparsers)`` and sets ``func`` on its parsers.
COMMAND_MODULES = ["donna_core.cli.solve_cmd", "donna_core.cli.profile_cmd",
                   "donna_core.cli.devices_cmd", "donna_core.cli.run_cmd"]  # run_cmd: the runtime

EXIT_OS_ERROR = 1
EXIT_BAD_INPUT = 2
EXIT_INFEASIBLE = 3
EXIT_INTERRUPTED = 130      # 128 + SIGINT, what a shell reports for Ctrl-C
EXIT_BROKEN_PIPE = 141      # 128 + SIGPIPE, what `yes | head` reports for `yes`

# Failures of the machine rather than of the user's input.
_SYSTEM_ERRNOS = {errno.ENOSPC, errno.EIO, getattr(errno, "EDQUOT", errno.ENOSPC), errno.EROFS}


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (``donna solve: error: ...``) like every other error."""

    def error(self, message: str):
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    ap = OneLineParser(prog="donna", description="DONNA: pipeline partitioning over heterogeneous "
                       "devices, trading throughput against energy.")
    sub = ap.add_subparsers(dest="command", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return ap


def _detach_stdout() -> None:
    """Point fd 1 at /dev/null so the interpreter's final flush of unwritable output cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def _os_error(exc: OSError) -> int:
    if exc.filename is None:    # the only file we touch without naming it is standard output
        _detach_stdout()
    target = exc.filename if exc.filename is not None else "standard output"
    print(terminal_safe(f"donna: error: {target}: {exc.strerror or exc}", keep=""), file=sys.stderr)
    return EXIT_OS_ERROR if exc.errno in _SYSTEM_ERRNOS else EXIT_BAD_INPUT


def main(argv=None) -> int:
    try:
        try:
            args = build_parser().parse_args(argv)
            code = args.func(args)
        except SystemExit as exc:   # --help and usage errors: still flush below, the help may hit a closed pipe
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else EXIT_BAD_INPUT)
        sys.stdout.flush()          # inside the try: a closed pipe or a full disk must surface here, not at exit
        return code
    except KeyboardInterrupt:
        print("donna: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        _detach_stdout()
        return EXIT_BROKEN_PIPE
    except InfeasibleError as exc:
        print(terminal_safe(f"donna: no feasible plan: {exc}".replace("\n", " "), keep=""), file=sys.stderr)
        return EXIT_INFEASIBLE
    except ValueError as exc:   # ProblemError, PlanError, ProfileError, ... : every user error
        # names from files reach messages; escaped so they cannot drive the terminal
        print(terminal_safe(f"donna: error: {str(exc).strip()}".replace("\n", " "), keep=""), file=sys.stderr)
        return EXIT_BAD_INPUT
    except OSError as exc:      # a path that is a directory, a full disk, no permission
        return _os_error(exc)


if __name__ == "__main__":
    sys.exit(main())
