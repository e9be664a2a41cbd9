# Entry points. Every target installs what it needs into .venv on first use.
SHELL   := /bin/bash
.SHELLFLAGS := -o pipefail -c
PY      ?= python3
VENV    := .venv
VPY     := $(VENV)/bin/python
STAMP   := $(VENV)/.installed
PIPQ    := $(VPY) -m pip install --quiet --disable-pip-version-check

.PHONY: install test figures bench lab app validate clean

install: $(STAMP)

# torch/torchvision are pinned in pyproject.toml (2.14.1 / 0.29.1); pip takes them from local wheels here.
$(STAMP): pyproject.toml
	test -x $(VPY) || $(PY) -m venv $(VENV)
	# pip warns once per missing local index folder; those lines are noise, the rest is shown
	$(PIPQ) -e '.[dev]' 2>&1 | { grep -v "^WARNING: Location" || true; }
	$(VPY) -c "import donna_core, torch, torchvision, pandas, papermill"
	touch $(STAMP)

test: $(STAMP)
	$(VPY) -m pytest -q

# The main job: rerun the paper's figures (notebooks 01-04 under papermill, cached profiles only) into figures/
# and write reports/claims.md.
figures: $(STAMP)
	$(VPY) scripts/make_figures.py
	$(VPY) scripts/solve_examples.py

# The interactive explorer (α / device sliders, front-point picking, per-unit profile views). Notebooks are saved
# without outputs (scripts/jupyter_config.py); Jupyter refuses root unless told, so the flag is added only for root.
ROOTFLAG = $(if $(filter 0,$(shell id -u)),--allow-root,)
lab: $(STAMP)
	$(VENV)/bin/jupyter lab notebooks/05_explore.ipynb --config=scripts/jupyter_config.py $(ROOTFLAG)

# The explorer as a standalone web app (Voilà: widgets only, no code) on a free port; prints the URL.
APP_IP ?= 127.0.0.1
app: $(STAMP)
	@port=$$($(VPY) -c "import socket; s = socket.socket(); s.bind(('$(APP_IP)', 0)); print(s.getsockname()[1])"); \
	echo "donna explorer: http://$(APP_IP):$$port/  (Ctrl-C stops it)"; \
	$(VENV)/bin/voila notebooks/05_explore.ipynb --no-browser --Voila.ip=$(APP_IP) --port=$$port

# Issue 9: run plans as real pipelines and compare with the cost model (measures: not part of `figures`).
validate: $(STAMP)
	$(VPY) scripts/validate.py

# bench: the solver benchmark also needs the optional `bench` extra (highspy, the MILP peer)
BENCH_STAMP := $(VENV)/.bench-installed
$(BENCH_STAMP): $(STAMP)
	$(PIPQ) -e '.[dev,bench]' 2>&1 | { grep -v "^WARNING: Location" || true; }
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	$(VPY) scripts/bench_solvers.py
	$(VPY) scripts/bench_cli.py
	$(VPY) scripts/bench_graph.py

clean:
	rm -rf $(VENV) .pytest_cache
