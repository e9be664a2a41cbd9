"""The input rules of donna_core.untrusted: strict numbers, bounded reads, bounded JSON nesting, safe names."""
from __future__ import annotations

import os
import threading

import pytest
from hypothesis import given, strategies as st

from donna_core.untrusted import (MAX_JSON_DEPTH, is_decimal, json_depth_exceeds, loads_json, parse_float,
                                  parse_int, read_text, terminal_safe)


@pytest.mark.parametrize("text", ["1_0", "1__0", "_1", "inf", "-inf", "nan", "Infinity", " 1", "1 ", "١", "0x10",
                                  "1e", "e5", ".", "", "+", "1,5", "1.5.2"])
def test_python_float_extras_are_refused(text):
    with pytest.raises(ValueError):
        parse_float(text)


@pytest.mark.parametrize("text,value", [("10", 10.0), ("-1.5e-3", -1.5e-3), (".5", 0.5), ("5.", 5.0),
                                        ("+7", 7.0), ("1E3", 1000.0)])
def test_plain_decimals_parse_as_float_does(text, value):
    assert parse_float(text) == value


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_every_finite_float_repr_round_trips(x):
    assert is_decimal(repr(x)) and parse_float(repr(x)) == x


def test_int_is_ascii_digits_only():
    assert parse_int("-12") == -12
    for bad in ("1_000", "1.0", "١٢", " 3", "9" * 31):
        with pytest.raises(ValueError):
            parse_int(bad)


def test_fifo_is_refused_without_blocking_when_a_regular_file_is_required(tmp_path):
    fifo = tmp_path / "p.csv"
    os.mkfifo(fifo)
    done = []
    t = threading.Thread(target=lambda: done.append(pytest.raises(ValueError, read_text, fifo, "profile",
                                                                  regular_only=True)), daemon=True)
    t.start()
    t.join(5)
    assert done, "read_text blocked on a FIFO"
    assert "is a FIFO" in str(done[0].value)


def test_reads_are_bounded(tmp_path):
    with pytest.raises(ValueError, match="longer than 1,000 bytes"):
        read_text("/dev/zero", "problem file", limit=1000)
    big = tmp_path / "big.json"
    big.write_text("1" * 2001)
    with pytest.raises(ValueError, match="2,001 bytes; at most 2,000"):
        read_text(big, "problem file", limit=2000)
    with pytest.raises(ValueError, match="is a directory"):
        read_text(tmp_path, "problem file")
    assert read_text(big, "x", limit=2001) == "1" * 2001


def test_json_nesting_is_bounded_and_strings_do_not_count():
    ok = "[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH
    assert loads_json(ok, "f") is not None
    with pytest.raises(ValueError, match="f: JSON nested too deeply"):
        loads_json("[" + ok + "]", "f")
    assert not json_depth_exceeds('["' + "[" * 1000 + '\\"' + '"]')
    with pytest.raises(ValueError, match="NaN is not allowed"):
        loads_json('{"a": NaN}', "f")


def test_terminal_safe_escapes_controls_and_bidi_but_keeps_text():
    assert terminal_safe("gpu0 €") == "gpu0 €"
    assert terminal_safe("\x1b]0;t\x07a\u202eb\rc") == "\\x1b]0;t\\x07a\\u202eb\\x0dc"
    assert terminal_safe("a\nb") == "a\nb" and terminal_safe("a\nb", keep="") == "a\\x0ab"
    assert terminal_safe("\ud800") == "\\ud800"
