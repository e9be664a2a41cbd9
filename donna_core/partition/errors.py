"""The partition wing's exception classes, in a module with no imports so that the command line can map
errors to exit codes without loading numpy or the solvers first."""


class ProblemError(ValueError):
    """A problem file (or dict) is malformed; the message names the field."""


class PlanError(ValueError):
    """A hand-made plan is not a valid plan for the problem (not contiguous, a device twice, memory, a unit on
    a device type that may not run it)."""


class InfeasibleError(RuntimeError):
    """No plan satisfies the memory limits and per-unit eligibility."""
