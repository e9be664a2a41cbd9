import json
import os

import pytest

from donna_core.atomic import write_json_atomic, write_text_atomic


def test_atomic_write_replaces_whole_file(tmp_path):
    f = tmp_path / "sub" / "out.json"
    write_json_atomic(f, {"a": 1})
    write_json_atomic(f, {"a": 2, "b": [1, 2]})
    assert json.loads(f.read_text()) == {"a": 2, "b": [1, 2]}
    assert os.listdir(f.parent) == ["out.json"]          # no temp litter


def test_failed_write_keeps_previous_version(tmp_path):
    f = tmp_path / "out.json"
    write_text_atomic(f, "old")
    with pytest.raises(ValueError):
        write_json_atomic(f, {"x": float("nan")})         # NaN is not JSON: fails before touching the file
    assert f.read_text() == "old"
    assert os.listdir(tmp_path) == ["out.json"]
