# Two commands do all the set-up on a fresh clone: `make demo` and `make test`.
PYTHON ?= python3.11
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
# JAX's persistent compilation cache: the tests, CLI subprocesses and notebooks compile the same
# programs again and again; a cache hit is cheaper than a compile (figures: benchmarks/README.md).
# `make test JAX_CACHE=` turns it off. Safe to delete at any time.
JAX_CACHE ?= .cache/jax
RUN    := $(if $(JAX_CACHE),JAX_COMPILATION_CACHE_DIR=$(abspath $(JAX_CACHE)) ,)$(PY)
ARGS   ?=

.PHONY: demo test test-fast docs lint bench install clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

DOCS_STAMP := $(VENV)/.docs-installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
LINT_STAMP := $(VENV)/.lint-installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

$(STAMP): $(PY) pyproject.toml
	$(PY) -m pip install -q -e ".[test]"
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(RUN) -m jaxmix.demo

# Every test, the slow ones included (CI).
test: $(STAMP)
	$(RUN) -m pytest -n 2 -q --durations=15

# The edit loop: everything not marked @pytest.mark.slow.
test-fast: $(STAMP)
	$(RUN) -m pytest -n 2 -q -m "not slow"

$(DOCS_STAMP): $(STAMP)
	$(PY) -m pip install -q -e ".[docs]"
	rm -f $(VENV)/.docs-installed-*
	touch $(DOCS_STAMP)

# The documentation site into site/; --strict turns a broken link, anchor or API name into an error.
docs: $(DOCS_STAMP)
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict

$(LINT_STAMP): $(STAMP)
	$(PY) -m pip install -q -e ".[lint]"
	rm -f $(VENV)/.lint-installed-*
	touch $(LINT_STAMP)

# ruff (lint rules and import order), the formatter in check mode, pyright (basic).
lint: $(LINT_STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m pyright

bench: $(STAMP)
	$(PY) -m benchmarks $(ARGS)

# One NVIDIA GPU: installs jax[cuda12] into .cache/venv-gpu and writes benchmarks/gpu_results.md (< 8 min).
.PHONY: bench-gpu
bench-gpu:
	bash benchmarks/gpu.sh $(ARGS)

# Every full paper check, then the README tables from their JSON (paper_checks/README.md gives
# the expected wall time). tabular_bias copies its SDV/TabDDPM rows (other environments) from the
# committed JSON; everything else reruns on the current code.
.PHONY: paper
PAPER_CHECKS := figure1 regression theorems model_collapse odelta regression_categorical joint_categorical tau
PAPER_CHECKS += $(if $(wildcard paper_checks/higher_moments.py),higher_moments,)
paper: $(STAMP)
	set -e; for c in $(PAPER_CHECKS); do $(RUN) paper_checks/$$c.py --no-progress; done
	$(RUN) paper_checks/tabular_bias.py --no-progress --baseline-reps 3 \
		--reuse paper_checks/results/tabular_bias/tabular_bias.json
	$(RUN) paper_checks/model_collapse.py --grid --no-progress
	$(RUN) paper_checks/model_collapse.py --grid --no-progress --runs 12 --generations 25 \
		--only 'mlp|epbeta:0.05|1|cut,mlp|min_d:0.05' --grid-name model_collapse_grid_tail
	$(RUN) paper_checks/tables.py

clean:
	rm -rf $(VENV) build dist site *.egg-info .cache
