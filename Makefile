# Entry points. Every target installs what it needs into .venv on first use.
SHELL   := /bin/bash
.SHELLFLAGS := -o pipefail -c
PY      ?= python3
VENV    := .venv
VPY     := $(VENV)/bin/python
STAMP   := $(VENV)/.installed
PIPQ    := $(VPY) -m pip install --quiet --disable-pip-version-check

.PHONY: help install test lint figures bench lab app validate clean fuzz

help: ## list the entry points (this text)
	@awk -F ':.*## ' '/^[a-z]+:.*## / {printf "  make %-9s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

install: $(STAMP) ## create .venv and install donna with its dev tools (editable)

# torch/torchvision are pinned in pyproject.toml (2.14.1 / 0.29.1); pip takes them from local wheels here.
$(STAMP): pyproject.toml
	test -x $(VPY) || $(PY) -m venv $(VENV)
	# pip warns once per missing local index folder; those lines are noise, the rest is shown
	$(PIPQ) -e '.[dev]' 2>&1 | { grep -v "^WARNING: Location" || true; }
	$(VPY) -c "import donna_core, torch, torchvision, pandas, papermill"
	touch $(STAMP)

test: $(STAMP) ## run the test suite (pytest)
	$(VPY) -m pytest -q

lint: $(STAMP) ## check the code with ruff (configuration in pyproject.toml)
	$(VENV)/bin/ruff check .

# The main job: rerun the paper's figures (notebooks 01-04 under papermill, cached profiles only) into figures/
# and write reports/claims.md.
figures: $(STAMP) ## rerun notebooks 01-04 and 07 into figures/, write reports/claims.md, solve data/problems
	$(VPY) scripts/make_figures.py
	$(VPY) scripts/solve_examples.py

# The interactive explorer (α / device sliders, front-point picking, per-unit profile views). Notebooks are saved
# without outputs (scripts/jupyter_config.py); Jupyter refuses root unless told, so the flag is added only for root.
ROOTFLAG = $(if $(filter 0,$(shell id -u)),--allow-root,)
lab: $(STAMP) ## open the explorer notebook (05) in JupyterLab
	$(VENV)/bin/jupyter lab notebooks/05_explore.ipynb --config=scripts/jupyter_config.py $(ROOTFLAG)

# The explorer as a standalone web app (Voilà: widgets only, no code) on a free port; prints the URL once the
# server answers (scripts/serve_app.py).
APP_IP ?= 127.0.0.1
app: $(STAMP) ## serve the explorer as a web app (Voila); prints the URL once it answers
	@$(VPY) scripts/serve_app.py --ip $(APP_IP)

# Run plans as real pipelines and compare with the cost model (measures: not part of `figures`).
validate: $(STAMP) ## run plans as real pipelines and compare with the cost model (measures)
	$(VPY) scripts/validate.py

# bench: the solver benchmark also needs the optional `bench` extra (highspy, the MILP peer)
BENCH_STAMP := $(VENV)/.bench-installed
$(BENCH_STAMP): $(STAMP)
	$(PIPQ) -e '.[dev,bench]' 2>&1 | { grep -v "^WARNING: Location" || true; }
	touch $(BENCH_STAMP)

# BENCH_ARGS=--quick: fewer repeats and shorter limits (~5 min instead of ~15)
BENCH_ARGS ?=
bench: $(BENCH_STAMP) ## solver, graph, start-up and explorer benchmarks into docs/benchmarks.md (generated)
	$(VPY) scripts/write_benchmarks.py $(BENCH_ARGS)

clean: ## remove .venv and pytest caches
	rm -rf $(VENV) .pytest_cache

# Fuzz every sub-command over mutated inputs for DONNA_FUZZ_SECONDS (default 600; a random seed unless
# DONNA_FUZZ_SEED is set). Findings (input files + command line) are copied to DONNA_FUZZ_FINDINGS.
DONNA_FUZZ_SECONDS ?= 600
DONNA_FUZZ_FINDINGS ?= fuzz-findings
fuzz: $(STAMP) ## fuzz every sub-command over mutated inputs (DONNA_FUZZ_SECONDS, default 600)
	DONNA_FUZZ_SECONDS=$(DONNA_FUZZ_SECONDS) DONNA_FUZZ_FINDINGS=$(abspath $(DONNA_FUZZ_FINDINGS)) \
		$(VPY) -m pytest -q -s -p no:cacheprovider tests/cli/test_fuzz.py
