"""argparse types shared by the sub-commands: each parses with :mod:`..untrusted`'s strict number rules and
refuses a bad value with one line naming what was expected."""
from __future__ import annotations

import argparse

from ..untrusted import parse_float, parse_int


def _checked_float(text: str, ok, not_a_number: str, out_of_range: str) -> float:
    """``text`` as a float under the strict rules, else ``not_a_number``; ``ok(value)`` false: ``out_of_range``."""
    try:
        v = parse_float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(not_a_number) from None
    if not ok(v):
        raise argparse.ArgumentTypeError(out_of_range)
    return v


def alpha_arg(text: str) -> float:
    """argparse type for --alpha."""
    return _checked_float(text, lambda a: 0.0 <= a <= 1.0, f"alpha must be a number in [0, 1], got {text!r}",
                          f"alpha must be in [0, 1], got {text}")


def seconds_arg(what: str):
    """argparse type for a positive, finite number of seconds; errors name ``what``."""
    return lambda text: _checked_float(text, lambda t: 0 < t < float("inf"),
                                       f"{what} must be a number of seconds, got {text!r}",
                                       f"{what} must be > 0 seconds, got {text}")


def int_at_least(lo: int):
    """argparse type: a plain integer >= ``lo`` (``1_0``, ``inf``, ``-5`` for a count are refused here)."""
    def parse(text: str) -> int:
        try:
            v = parse_int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer >= {lo}, got {text!r}") from None
        if v < lo:
            raise argparse.ArgumentTypeError(f"expected an integer >= {lo}, got {v}")
        return v
    return parse


def size_arg(text: str) -> int:
    """A message size in bytes: a plain decimal (1e6 allowed) with a whole, positive, finite value."""
    return int(_checked_float(text, lambda v: 1 <= v < float("inf") and v.is_integer(),
                              f"expected a size in bytes, got {text!r}",
                              f"expected a whole number of bytes >= 1, got {text!r}"))
