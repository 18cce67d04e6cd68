# Every target builds its own virtualenv from pyproject.toml, so a fresh clone needs nothing else.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: demo preview test lint typecheck check bench bench-quick clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

## demo: a worker with an embedded stembeat beat firing examples/celeryconfig.py (Ctrl-C stops)
demo: $(VENV)/.installed
	$(VENV)/bin/celery -A examples.demo worker -B --scheduler stembeat -P solo -l info

## preview: the next fires of every schedule in examples/celeryconfig.py, without running them
preview: $(VENV)/.installed
	$(PY) examples/preview.py

## test: the whole test suite (Redis/PostgreSQL suites skip loudly when their server is down)
test: $(VENV)/.installed
	$(PY) -m pytest

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(VENV)/.installed
	$(VENV)/bin/mypy celery_stembeat

check: test lint typecheck

$(VENV)/.bench-installed: $(VENV)/.installed
	$(PY) -m pip install --quiet -e '.[bench]'
	touch $@

## bench: every benchmark against celery's schedulers and RedBeat (about an hour); table on
## stdout, JSON in bench/results/ (see docs/benchmarks.md)
bench: $(VENV)/.bench-installed
	$(PY) -m bench

## bench-quick: the same scenarios at small sizes and short durations, in under two minutes
bench-quick: $(VENV)/.bench-installed
	$(PY) -m bench --quick

clean:
	rm -rf $(VENV) .demo .pytest_cache .mypy_cache .ruff_cache build *.egg-info
