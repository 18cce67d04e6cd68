# Every target builds its own virtualenv from pyproject.toml, so a fresh clone needs nothing else.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: demo preview test test-oldest-celery lint typecheck check mutate bench bench-quick clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

# Everything: the package with the test and development extras.
$(VENV)/.installed: pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

# Only what the demo and the preview need: the package, and ephem through celery's own `solar`
# extra because examples/celeryconfig.py shows celery's `solar` schedule, which needs it.
$(VENV)/.demo-installed: pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e . 'celery[solar]'
	touch $@

## demo: a worker with an embedded stembeat beat firing examples/celeryconfig.py (Ctrl-C stops)
demo: $(VENV)/.demo-installed
	$(VENV)/bin/celery -A examples.demo worker -B --scheduler stembeat -P solo -l info

## preview: the next fires of every schedule in examples/celeryconfig.py, without running them
preview: $(VENV)/.demo-installed
	$(PY) examples/preview.py

## test: the whole test suite (Redis/PostgreSQL suites skip loudly when their server is down)
test: $(VENV)/.installed
	$(PY) -m pytest

## test-oldest-celery: the fast suite (specs, entry, engine) against the oldest celery we support,
## in its own virtualenv (.venv-celery53); tox.ini covers every Python and celery release
OLDEST_CELERY_VENV ?= .venv-celery53

$(OLDEST_CELERY_VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(OLDEST_CELERY_VENV)
	$(OLDEST_CELERY_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(OLDEST_CELERY_VENV)/bin/python -m pip install --quiet -e '.[test]' 'celery>=5.3,<5.4'
	touch $@

test-oldest-celery: $(OLDEST_CELERY_VENV)/.installed
	$(OLDEST_CELERY_VENV)/bin/python -m pytest tests/specs tests/test_entry.py tests/engine

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(VENV)/.installed
	$(VENV)/bin/mypy celery_stembeat

check: test lint typecheck

$(VENV)/.mutate-installed: $(VENV)/.installed
	$(PY) -m pip install --quiet -e '.[mutate]'
	touch $@

## mutate: mutation run over the engine, catch-up, run state, specs and celery bridge (see
## README); prints each module's score and the surviving mutants not in mutation/equivalents.txt.
## ONLY='glob' limits it.
mutate: $(VENV)/.mutate-installed
	rm -rf mutants
	STEMBEAT_TEST_BACKENDS=memory,sqlite $(VENV)/bin/mutmut run --max-children 2 $(ONLY)
	$(PY) mutation/report.py

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
	rm -rf $(VENV) $(OLDEST_CELERY_VENV) mutants .demo .pytest_cache .mypy_cache .ruff_cache build *.egg-info
