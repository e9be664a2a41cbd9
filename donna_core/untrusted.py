"""Text from users and files, taken in and given back safely: bounded reads, strict numbers, bounded JSON
nesting, and names made harmless for a terminal.

Every reader of a user file or a numeric argument goes through here, so one rule holds everywhere:

* a file is read with a size limit (:data:`MAX_INPUT_BYTES`), so ``/dev/zero`` or a runaway file is one error
  line, not a ``MemoryError``; a FIFO is never opened where a regular file is expected (:func:`read_text`);
* a number is plain decimal (``12``, ``-1.5e-3``): Python's ``float``/``int`` also take ``1_0`` (= 10),
  ``inf``, ``nan``, Unicode digits and surrounding blanks, each a typo that would silently become a value;
* JSON nests at most :data:`MAX_JSON_DEPTH` levels (deeper data would exhaust the recursion limit later, in
  ``json.dumps`` or a ``repr``), and ``NaN``/``Infinity`` are not JSON;
* a name printed to the terminal has its control and format characters escaped (:func:`terminal_safe`), so a
  device named ``"\\x1b]0;owned\\x07"`` cannot retitle the window, clear the screen or hide text.
"""
from __future__ import annotations

import json
import os
import re
import stat
import unicodedata
from typing import Any

# Far above any input of this project (the largest bundled problem is ~1 MB; 1,024 devices x 10,000 units of
# two cost vectors is ~400 MB only for absurd clusters), far below what a JSON parse of it would need in memory.
MAX_INPUT_BYTES = 64 * 2**20
# Problem, plan and profile metadata nest 4-5 levels; 64 leaves room for free-form meta.
MAX_JSON_DEPTH = 64

# ASCII digits only ([0-9], not \d, which matches every script's digits); no underscores, no blanks.
_INT = re.compile(r"[+-]?[0-9]+")
_FLOAT = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
# Kept as text so a 5,000-digit integer is refused by length, not by int()'s own digit limit.
MAX_INT_DIGITS = 30


def is_decimal(text: str) -> bool:
    """True when ``text`` is a plain decimal number (``-1``, ``2.5``, ``1e-3``, ``.5``): nothing else is."""
    return isinstance(text, str) and _FLOAT.fullmatch(text) is not None


def parse_float(text: str) -> float:
    """``float(text)`` for plain decimal text only; ``ValueError`` (naming the text) otherwise.

    The result may still be ``inf`` for a literal beyond the float range (``1e999``): callers check ranges."""
    if not is_decimal(text):
        raise ValueError(f"not a plain decimal number: {_quote(text)}")
    return float(text)


def parse_int(text: str) -> int:
    """``int(text)`` for plain ASCII digits (optional sign) only; ``ValueError`` otherwise."""
    if not isinstance(text, str) or _INT.fullmatch(text) is None or len(text) > MAX_INT_DIGITS:
        raise ValueError(f"not a plain integer: {_quote(text)}")
    return int(text)


def _quote(text: Any) -> str:
    r = repr(text)
    return r if len(r) <= 40 else r[:39] + "…"


def file_kind(mode: int) -> str:
    """``"a directory"``, ``"a FIFO"`` ... for an ``st_mode`` (for error messages)."""
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket"), (stat.S_ISREG, "a regular file")):
        if test(mode):
            return name
    return "not a regular file"


def read_text(path: str | os.PathLike, what: str, *, regular_only: bool = False,
              limit: int = MAX_INPUT_BYTES) -> str:
    """UTF-8 text of ``path``, at most ``limit`` bytes; ``ValueError`` naming the file otherwise.

    ``regular_only``: refuse anything but a regular file (checked with ``os.stat`` before opening, so a FIFO
    never blocks us); otherwise a pipe or device the user named (``<(cmd)``, ``/dev/stdin``) is read, bounded.
    A missing or unreadable file raises ``ValueError`` too (exit 2: the user named it)."""
    p = os.fspath(path)
    try:
        st = os.stat(p)
        if stat.S_ISDIR(st.st_mode) or (regular_only and not stat.S_ISREG(st.st_mode)):
            raise ValueError(f"{p}: {what} is {file_kind(st.st_mode)}, not a regular file")
        if stat.S_ISREG(st.st_mode) and st.st_size > limit:
            raise ValueError(f"{p}: {what} is {st.st_size:,} bytes; at most {limit:,} are read")
        with open(p, "rb") as fh:
            data = fh.read(limit + 1)
    except OSError as exc:
        raise ValueError(f"{p}: cannot read {what} ({exc.strerror or exc})") from None
    if len(data) > limit:
        raise ValueError(f"{p}: {what} is longer than {limit:,} bytes (the most read from one input)")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{p}: {what} is not UTF-8 text (byte {data[exc.start]:#04x} at offset {exc.start})") \
            from None


def _reject_constant(name: str):
    raise ValueError(f"{name} is not allowed")


_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.S)
_BRACKET = re.compile(r"[\[\]{}]")


def json_depth_exceeds(text: str, limit: int = MAX_JSON_DEPTH) -> bool:
    """True when ``text`` opens more than ``limit`` nested arrays/objects (brackets inside strings skipped)."""
    depth = 0
    for m in _BRACKET.finditer(_JSON_STRING.sub('""', text)):
        depth += 1 if m.group() in "[{" else -1
        if depth > limit:
            return True
    return False


def loads_json(text: str, where: str, subject: str = "") -> Any:
    """``json.loads`` with the rules above; otherwise a one-line ``ValueError``: ``where: <subject>not valid
    JSON: ...`` (``subject`` e.g. ``"metadata is "``)."""
    head = f"{where}: {subject}"
    # the C scanner is fast; only a text with many brackets is worth the depth scan
    if text.count("[") + text.count("{") > MAX_JSON_DEPTH and json_depth_exceeds(text):
        raise ValueError(f"{head}JSON nested too deeply (more than {MAX_JSON_DEPTH} levels)")
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{head}not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise ValueError(f"{head}JSON nested too deeply") from None
    except ValueError as exc:   # NaN/Infinity, an integer of more than 4,300 digits
        raise ValueError(f"{head}not valid JSON: {str(exc).splitlines()[0]}") from None


def read_json(path: str | os.PathLike, what: str, *, regular_only: bool = False) -> Any:
    """:func:`read_text` then :func:`loads_json`."""
    return loads_json(read_text(path, what, regular_only=regular_only), os.fspath(path))


# Characters that change what a terminal shows instead of showing themselves: C0/C1 controls (ESC starts
# colour, cursor and window-title sequences), format characters (bidi overrides hide or reorder text),
# unpaired surrogates (cannot be encoded), line/paragraph separators.
_UNSAFE_CATEGORIES = {"Cc", "Cf", "Cs", "Zl", "Zp"}


def terminal_safe(text: Any, keep: str = "\n") -> str:
    """``str(text)`` with every unsafe character written as a Python escape (``\\x1b``, ``\\u202e``);
    characters in ``keep`` (a line break, by default) stay as they are."""
    s = str(text)
    if s.isprintable() and not any(c in "\u2028\u2029" for c in s):
        return s
    out = []
    for ch in s:
        if ch in keep or unicodedata.category(ch) not in _UNSAFE_CATEGORIES:
            out.append(ch)
        else:
            o = ord(ch)
            out.append(f"\\x{o:02x}" if o < 0x100 else f"\\u{o:04x}" if o < 0x10000 else f"\\U{o:08x}")
    return "".join(out)
