# Two commands do all the set-up on a fresh clone: `make demo` and `make test`.
PYTHON ?= python3.11
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
# JAX's persistent compilation cache: the sampler's program takes ~4 s to compile and the tests,
# CLI subprocesses and notebooks compile it again and again; a cache hit takes ~1 s.
# `make test JAX_CACHE=` turns it off. Safe to delete at any time.
JAX_CACHE ?= .cache/jax
RUN    := $(if $(JAX_CACHE),JAX_COMPILATION_CACHE_DIR=$(abspath $(JAX_CACHE)) ,)$(PY)
ARGS   ?=

.PHONY: demo test bench install clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(STAMP): $(PY) pyproject.toml
	$(PY) -m pip install -q -e ".[test]"
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(RUN) -m jaxmix.demo

test: $(STAMP)
	$(RUN) -m pytest -n 2 -q --durations=15

bench: $(STAMP)
	$(PY) -m benchmarks $(ARGS)

clean:
	rm -rf $(VENV) build *.egg-info .cache
