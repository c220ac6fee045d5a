# Two commands do all the set-up on a fresh machine with Python >= 3.10:
#   make demo   -- the demo on a private embedded Redis (no Docker, no API keys)
#   make test   -- the whole test suite (starts its own Redis servers)
# Each creates .venv and installs what it needs on first use.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: demo test bench lint clean

# Installs go through uv (pinned here, bootstrapped with pip into the venv): it installs
# the locked set in seconds and resolves the lowest versions our ranges allow for CI's
# oldest-versions check (.ci/range_check.sh). requirements/dev.lock pins every package
# the tests run with; `make lock` re-resolves it at today's newest versions.
UV_VERSION := 0.13.9
UV := $(VENV)/bin/uv

$(UV):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet "uv==$(UV_VERSION)"

$(VENV)/.installed-dev: pyproject.toml requirements/dev.lock | $(UV)
	$(UV) pip install --quiet --python $(PY) -r requirements/dev.lock
	$(UV) pip install --quiet --python $(PY) --no-deps -e .
	touch $@

.PHONY: lock
lock: | $(UV)
	$(UV) pip compile --quiet pyproject.toml --extra dev --universal --upgrade -o requirements/dev.lock

# The peers the benchmarks compare with are not in the lock (the lock still pins
# everything they share with us).
$(VENV)/.installed-bench: pyproject.toml $(VENV)/.installed-dev
	$(UV) pip install --quiet --python $(PY) -c requirements/dev.lock -e '.[dev,bench]'
	touch $@

# The demo installs only what it runs (the `demo` extra), not the test tooling, at
# the locked versions.
$(VENV)/.installed-demo: pyproject.toml requirements/dev.lock | $(UV)
	$(UV) pip install --quiet --python $(PY) -c requirements/dev.lock -e '.[demo]'
	touch $@

demo: $(VENV)/.installed-demo
	$(PY) -m redis_llm_cache.demo

# The TLS tests need a redis-server built with TLS (the bundled 8.2 is not):
# Debian's redis-server (7.0). Installed here when missing and run as root (CI);
# otherwise those tests skip and say why.
TLS_REDIS ?= /usr/bin/redis-server

test: $(VENV)/.installed-dev
	@if [ ! -x $(TLS_REDIS) ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null; } \
			|| echo "could not install redis-server: the TLS tests will say why (they skip, or fail when CI is set)"; \
	fi
	$(PY) -m pytest

# The quick ones; bench/README.md has the commands for the semantic benchmarks
# (they take tens of minutes, and the correctness one needs labelled pairs).
bench: $(VENV)/.installed-bench
	$(PY) bench/exact_lookup.py
	$(PY) bench/exact_hit_python.py
	$(PY) bench/embeddings.py

lint: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench
	$(VENV)/bin/mypy

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis

# JupyterLab on the notebooks (notebooks/README.md); not needed to run them in the tests.
.PHONY: notebook
notebook: $(VENV)/.installed-dev
	$(PY) -m pip install --quiet jupyterlab
	$(VENV)/bin/jupyter lab notebooks/
