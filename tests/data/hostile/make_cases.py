"""Writes the hostile inputs of this folder (run from the repository root; the files are committed, this script
says how they were made). Each case is listed in cases.json and README.md; tests/cli/test_hostile.py runs them."""
from __future__ import annotations

import json
import os
from pathlib import Path

HERE = Path(__file__).resolve().parent
HEAD = "# donna-profile "
COLS = "unit,kind,time_s,time_spread_s,energy_j,out_bytes,weight_bytes,macs,in_h,in_w,in_c,k_h,k_w,out_c,stride"


def profile(device_type: str, rows: list[list], model: str = "toy", **meta_extra) -> str:
    meta = {"format": 1, "model": model, "device_type": device_type, "granularity": "layer", "n_units": len(rows),
            "source_kind": "measured", "source": "hostile test input", "energy_source": "rapl",
            "date": "2026-01-01", "input_bytes": 1000, **meta_extra}
    body = "\n".join(",".join(str(v) for v in r) for r in rows)
    return HEAD + json.dumps(meta) + "\n" + COLS + "\n" + body + "\n"


def rows(time0="0.001", out0="1000", weight1="40") -> list[list]:
    return [["u0", "conv", time0, "", "0.01", out0, "40", "100", 8, 8, 3, 3, 3, 4, 1],
            ["u1", "linear", "0.002", "", "0.02", "500", weight1, "200", 1, 1, 4, 1, 1, 10, 1]]


def write(rel: str, text: str) -> None:
    p = HERE / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text)


def main() -> None:
    write("profiles/underscore/toy/layer/cpu-a.csv", profile("cpu-a", rows(time0="1_0")))
    write("profiles/out_bytes_2p63/toy/layer/cpu-a.csv", profile("cpu-a", rows(out0=str(2**63))))
    write("profiles/out_bytes_1e30/toy/layer/cpu-a.csv", profile("cpu-a", rows(out0="1e30")))
    write("profiles/input_bytes_list/toy/layer/cpu-a.csv", profile("cpu-a", rows(), input_bytes=[1, 2]))
    write("profiles/input_bytes_null/toy/layer/cpu-a.csv", profile("cpu-a", rows(), input_bytes=None))
    deep = profile("cpu-a", rows()).replace('"date"', '"notes": ' + "[" * 100000 + "]" * 100000 + ', "date"', 1)
    write("profiles/meta_nested/toy/layer/cpu-a.csv", deep)
    # the same model profiled twice with different parameter sizes: the problem would depend on cluster order
    write("profiles/weight_disagree/toy/layer/cpu-a.csv", profile("cpu-a", rows()))
    write("profiles/weight_disagree/toy/layer/gpu-b.csv", profile("gpu-b", rows(weight1="41")))
    # a good profile next to entries that are not regular files (the FIFO is made by the test: git cannot hold it)
    write("profiles/not_regular/toy/layer/cpu-a.csv", profile("cpu-a", rows()))
    write("profiles/not_regular/toy/layer/dir.csv/.keep", "")
    link = HERE / "profiles/not_regular/toy/layer/broken.csv"
    if not os.path.islink(link):
        os.symlink("no-such-file.csv", link)
    # device and problem names carrying terminal escapes (window title, clear screen, bidi override)
    esc = {"name": "\x1b]0;owned\x07\x1b[2Jproblem",
           "units": [{"name": "u0", "out_bytes": 100.0}, {"name": "u1", "out_bytes": 10.0}],
           "input_bytes": 100.0,
           "device_types": {"cpu": {"time_s": [1.0, 1.0], "energy_j": [1.0, 1.0]}},
           "devices": [{"name": "\x1b[31mcpu0\u202e", "type": "cpu"}, {"name": "cpu1\r\x1b[K", "type": "cpu"}],
           "links": "pcie5"}
    write("escape_names.json", json.dumps(esc, indent=1) + "\n")
    write("plan_nested.json", "[" * 100000 + "]" * 100000 + "\n")


if __name__ == "__main__":
    main()
