"""Seeded mutators for every input format `donna` reads, and the fuzz cases built from them (tests/cli/test_fuzz.py).

A case is a `donna` command line plus the files it reads; the mutations are the kinds that broke parsers
before: hostile numbers (1_0, 2^63, 1e400, subnormals, -0), wrong types, deep nesting, control characters in
names, truncation, stray bytes, missing or duplicated keys, rows and columns. Data never names code here: every
`run` case gives --model on the command line.
"""
from __future__ import annotations

import copy
import json
import random
import re
from pathlib import Path
from typing import Any

HOSTILE_NUMBERS = [0, -1, -0.0, 1, 2**63, 2**64 + 1, 10**30, 1e308, 1.7976931348623157e308, 5e-324, 2.2e-308,
                   1e-320, 0.5, 3, 2**53 + 1, -2**63, 1e15, 7]
HOSTILE_STRINGS = ["", " ", "x", "1_0", "inf", "-inf", "nan", "NaN", "1e400", "-5", "0", "١٢", "0x10", "1,5",
                   "\x1b[2J\x1b]0;t\x07", "\u202eevil", "a" * 300, "../../etc", "pcie5", "hb-wcc", "cpu0", "u0",
                   "\ud800", "null", "[]", "{}"]
HOSTILE_VALUES = HOSTILE_NUMBERS + HOSTILE_STRINGS + [None, True, False, [], {}, [1, 2], {"a": 1},
                                                      [[[[[[[[[[[]]]]]]]]]]]]
# text tokens for CSV cells and command-line numbers
HOSTILE_TOKENS = ["1_0", "1__0", "_1", "inf", "-inf", "nan", "1e400", "-1", "0", "-0", "9" * 30, "2e-320",
                  str(2**63), "1e30", "0x1A", "١", " 5", "5 ", "", '"', ",", "\x1b[31m", "1.5", "3", "1e3", ".5",
                  "5.", "+7", "NaN", "None", "true"]


def _paths(node: Any, path=()) -> list[tuple]:
    out = [path]
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, path + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, path + (i,))
    return out


def _get(node, path):
    for p in path:
        node = node[p]
    return node


def mutate_json(obj: Any, rng: random.Random, n: int = 1) -> Any:
    """``obj`` with ``n`` structural mutations at random places."""
    obj = copy.deepcopy(obj)
    for _ in range(n):
        paths = _paths(obj)
        path = rng.choice(paths)
        op = rng.random()
        if not path:
            if op < 0.5:
                obj = rng.choice(HOSTILE_VALUES)
            continue
        parent, key = _get(obj, path[:-1]), path[-1]
        if op < 0.5:
            parent[key] = copy.deepcopy(rng.choice(HOSTILE_VALUES))
        elif op < 0.62:
            del parent[key]
        elif op < 0.72 and isinstance(parent, list):
            parent.insert(key, copy.deepcopy(parent[key]))          # a duplicated entry
        elif op < 0.8 and isinstance(parent, dict):
            parent[rng.choice(["extra", "meta", "name", "media", "source", "\x1b"])] = rng.choice(HOSTILE_VALUES)
        elif op < 0.88:     # nesting is spliced in as text by dumps(): deep objects break copy and repr here
            parent[key] = f"__DEEP{rng.choice([2, 70, 3000, 100000])}__"
        else:
            v = parent[key]
            parent[key] = (str(v) if not isinstance(v, str) else v + rng.choice(HOSTILE_STRINGS))
    return obj


def mutate_text(text: str, rng: random.Random) -> str:
    """Byte-level damage: truncation, a stray or removed character, a doubled line."""
    if not text:
        return rng.choice(HOSTILE_STRINGS)
    i = rng.randrange(len(text))
    op = rng.random()
    if op < 0.3:
        return text[:i]
    if op < 0.55:
        return text[:i] + rng.choice(['"', "[", "}", ",", "\x00", "\ufeff", "\n", "1_", "e9", "-"]) + text[i:]
    if op < 0.75:
        return text[:i] + text[i + 1:]
    lines = text.split("\n")
    j = rng.randrange(len(lines))
    return "\n".join(lines[:j] + [lines[j]] + lines[j:])


_DEEP = re.compile(r'"__DEEP([0-9]+)__"')


def dumps(obj: Any, indent: int | None = 1) -> str:
    """JSON text of a mutated object (NaN written as NaN; a deep-nesting marker becomes that many brackets)."""
    return _DEEP.sub(lambda m: "[" * int(m.group(1)) + "]" * int(m.group(1)),
                     json.dumps(obj, indent=indent, allow_nan=True))


def mutate_profile(text: str, rng: random.Random) -> str:
    """A profile file (metadata line + CSV) with damage in the metadata, a cell, a row or a column."""
    head, _, table = text.partition("\n")
    op = rng.random()
    if op < 0.25:
        prefix = "# donna-profile "
        meta = json.loads(head[len(prefix):])
        return prefix + dumps(mutate_json(meta, rng, rng.randint(1, 2)), None) + "\n" + table
    rows = [r.split(",") for r in table.rstrip("\n").split("\n")]
    if op < 0.75:
        i, j = rng.randrange(1, len(rows)), rng.randrange(len(rows[0]))
        rows[i][j] = rng.choice(HOSTILE_TOKENS)
    elif op < 0.85:
        j = rng.randrange(len(rows[0]))
        rows = [r[:j] + r[j + 1:] for r in rows]
    elif op < 0.92:
        i = rng.randrange(1, len(rows))
        rows.insert(i, list(rows[i]))
    else:
        return mutate_text(text, rng)
    return head + "\n" + "\n".join(",".join(r) for r in rows) + "\n"


# ---- cases -------------------------------------------------------------------------------------------------

def _num_arg(rng: random.Random, good: list[str]) -> str:
    return rng.choice(good) if rng.random() < 0.4 else rng.choice(HOSTILE_TOKENS)


def case_solve(rng, seeds, d: Path) -> dict:
    src = rng.choice(["problem", "small"])
    obj = seeds[src + "_obj"]
    text = mutate_text(seeds[src], rng) if rng.random() < 0.25 else dumps(mutate_json(obj, rng, rng.randint(1, 3)))
    (d / "p.json").write_text(text, errors="surrogatepass")
    if rng.random() < 0.25:
        argv = ["pareto", "p.json"] + (["--json"] if rng.random() < 0.5 else [])
    else:
        argv = ["solve", "p.json", "--solver", rng.choice(["exact", "paper", "bounded", "auto", "exact", "x"]),
                "--alpha", _num_arg(rng, ["0", "0.5", "1", "0.3"]), "--time-limit", _num_arg(rng, ["2", "1"])]
        if rng.random() < 0.5:
            argv.append("--json")
    return {"kind": "solve", "argv": argv}


def case_problem(rng, seeds, d: Path) -> dict:
    root = d / "profiles" / "toy" / "layer"
    root.mkdir(parents=True)
    names = ["cpu-a", "gpu-b"]
    bad = rng.choice(names)
    for t in names:
        text = seeds["profile_" + t]
        (root / f"{t}.csv").write_text(mutate_profile(text, rng) if t == bad else text, errors="surrogatepass")
    cluster = rng.choice(["1cpu-a+1gpu-b", "1gpu-b+1cpu-a", "2cpu-a", "1gpu-b", "3cpu-a+2gpu-b"])
    argv = ["problem", "--profiles", "profiles", "--model", "toy", "--cluster", cluster,
            "--medium", rng.choice(["pcie5", "hb-wcc", "lb-wcc", "nope"]), "-o", "out.json"]
    if rng.random() < 0.3:
        argv += ["--assume-power", f"cpu-a={rng.choice(HOSTILE_TOKENS)}"]
    if rng.random() < 0.2:
        argv += ["--memory", f"gpu-b={rng.choice(HOSTILE_TOKENS)}"]
    return {"kind": "problem", "argv": argv}


def case_run(rng, seeds, d: Path) -> dict:
    """`donna run --write-spec`: plan and problem parsed, the spec built, nothing launched."""
    if rng.random() < 0.7:
        plan = dumps(mutate_json(seeds["plan_obj"], rng, rng.randint(1, 2)))
        problem = seeds["problem"]
    else:
        plan = seeds["plan"]
        problem = dumps(mutate_json(seeds["problem_obj"], rng, 1))
    (d / "plan.json").write_text(plan, errors="surrogatepass")
    (d / "p.json").write_text(problem, errors="surrogatepass")
    argv = ["run", "p.json", "--plan", "plan.json", "--model", "vgg8", "--granularity", "layer",
            "--write-spec", "spec.json"]
    for flag, good in (("--inputs", ["4"]), ("--check", ["2"]), ("--in-flight", ["2"]), ("--threads", ["1"])):
        if rng.random() < 0.25:
            argv += [flag, _num_arg(rng, good)]
    return {"kind": "run", "argv": argv}


def case_calibrate(rng, seeds, d: Path) -> dict:
    """Only inputs that must fail before anything is measured: a bad count, or sizes that are not sizes."""
    (d / "p.json").write_text(dumps(mutate_json(seeds["small_obj"], rng, 1)), errors="surrogatepass")
    bad_counts = ["0", "-1", "1_0", "inf", "x", "", "1.5", "١"]
    bad_sizes = ["inf", "nan", "-inf", "1e400", "x", "", "-5", "0"]
    if rng.random() < 0.5:
        argv = ["calibrate-link", "--repeats", rng.choice(bad_counts)]
    else:
        argv = ["calibrate-link", "--sizes", "1000", rng.choice(bad_sizes)]
    return {"kind": "calibrate-link", "argv": argv + ["--problem", "p.json", "-o", "cal.json"]}


def case_profile(rng, seeds, d: Path) -> dict:
    """Argument errors only: --out is never writable, so no measurement can start."""
    model = rng.choice(["vgg8", "gpt2", "tinyllama", "json:loads", "math:pi", "", "\x1b[2J", "nope", "vit_b_16"])
    argv = ["profile", "--model", model, "--out", "/dev/null/nowhere", "--quiet"]
    if model in ("gpt2", "tinyllama") or rng.random() < 0.2:
        argv += ["--phase", rng.choice(["prefill", "decode", "layer", "x"])]
    for flag, good in (("--context", ["128", "1024", "2048", "1"]), ("--repeats", ["3"]), ("--threads", ["1"]),
                       ("--warmup", ["0"]), ("--whole-repeats", ["2"])):
        if rng.random() < 0.3:
            argv += [flag, _num_arg(rng, good)]
    return {"kind": "profile", "argv": argv}


KINDS = [(case_solve, 5), (case_problem, 4), (case_run, 2), (case_calibrate, 1), (case_profile, 2)]


def make_case(rng: random.Random, seeds: dict, d: Path) -> dict:
    d.mkdir(parents=True)
    fn = rng.choices([k for k, _ in KINDS], weights=[w for _, w in KINDS])[0]
    case = fn(rng, seeds, d)
    case["dir"] = str(d)
    return case
