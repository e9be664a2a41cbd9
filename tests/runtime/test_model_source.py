"""Nothing in a data file selects code: the model of a run comes from the command line, stages never import
from the working directory."""
from __future__ import annotations

import json

import pytest

from donna_core.partition.problem import problem_from_dict
from donna_core.runtime.spec import RunSpecError, model_ref, resolve_model

from .runs import TINY, donna, run_dirs, tiny_problem, write_json

PLAN = {"stages": [{"device": "cpu0", "first": 0, "last": 1}, {"device": "cpu1", "first": 2, "last": 3}]}


def _problem(meta: dict):
    d = tiny_problem(model=None)
    d["meta"] = meta
    return problem_from_dict(d)


def test_meta_model_is_only_a_zoo_name_and_the_command_line_decides():
    assert model_ref(_problem({"model": "vgg8", "granularity": "layer"}), None, None) == ("vgg8", "layer")
    assert model_ref(_problem({"granularity": "layer"}), TINY, None) == (TINY, "layer")
    assert model_ref(_problem({"model": TINY, "granularity": "layer"}), TINY, None) == (TINY, "layer")
    for meta_model in ("os:abort", "this:x", TINY, ["vgg8"], "gpt2"):
        with pytest.raises(RunSpecError, match="p.json: meta.model .* never selects code|p.json: meta.model"):
            model_ref(_problem({"model": meta_model, "granularity": "layer"}), None, None, where="p.json")
    with pytest.raises(RunSpecError, match="contradicts p.json: meta.model 'vgg8'"):
        model_ref(_problem({"model": "vgg8", "granularity": "layer"}), "vgg19", None, where="p.json")
    with pytest.raises(RunSpecError, match="not a zoo model"):
        model_ref(_problem({"granularity": "layer"}), "os.abort()", None)
    with pytest.raises(RunSpecError, match="names code"):
        resolve_model("os:abort")  # not allowed unless a command line named it


@pytest.mark.parametrize("ref, says", [("json:loads", "calling it raised TypeError"), ("math:pi", "not a function"),
                                        ("no_such_module_here:f", "cannot load")])
def test_a_command_line_model_that_is_not_a_model_is_one_line(ref, says):
    with pytest.raises(RunSpecError, match=says):
        resolve_model(ref, code_allowed=True)


@pytest.mark.parametrize("meta_model", ["os:abort", "this:x"])
def test_donna_run_never_imports_what_a_problem_file_names(tmp_path, meta_model):
    prob = write_json(tmp_path / "p.json", tiny_problem(model=meta_model))
    r = donna(["run", str(prob), "--inputs", "4", "--warmup", "1"], tmp_path, timeout=120)
    assert r.returncode == 2, r.stderr          # os:abort would end with -6 (SIGABRT)
    assert r.stderr.count("\n") == 1 and "p.json: meta.model" in r.stderr and "Traceback" not in r.stderr
    assert "Beautiful is better" not in r.stdout + r.stderr   # `this` was not imported
    assert run_dirs(tmp_path) == []


def test_mismatched_or_unknown_command_line_model_is_exit_2(tmp_path):
    prob = write_json(tmp_path / "p.json", tiny_problem(model="vgg8"))
    r = donna(["run", str(prob), "--model", "vgg19"], tmp_path, timeout=120)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "contradicts" in r.stderr
    prob = write_json(tmp_path / "q.json", tiny_problem(model=None))
    r = donna(["run", str(prob), "--model", "math:pi"], tmp_path, timeout=120)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "not a function" in r.stderr, r.stderr


SHADOWS = ("queue", "json", "socket", "signal", "tiny_models")


def test_stages_never_import_from_the_working_directory(tmp_path):
    """Modules a stage imports, shadowed in the working directory, each writing a marker when imported."""
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    for name in SHADOWS:
        (cwd / f"{name}.py").write_text("import os\n"
                                        f"open(os.path.join({str(cwd)!r}, 'IMPORTED-{name}-' + str(os.getpid())),"
                                        " 'w').close()\n")
    prob = write_json(tmp_path / "p.json", tiny_problem(model=None))
    plan = write_json(tmp_path / "plan.json", PLAN)
    out = tmp_path / "r.json"
    r = donna(["run", str(prob), "--plan", str(plan), "--model", TINY, "--inputs", "4", "--warmup", "1",
               "-o", str(out)], tmp_path, cwd=cwd)
    assert r.returncode == 0, r.stderr
    assert json.loads(out.read_text())["measured"]["outputs_check"]["exactly_equal"]
    assert sorted(p.name for p in cwd.glob("IMPORTED-*")) == []
    assert run_dirs(tmp_path) == []
