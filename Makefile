# The README's two commands: `make demo` and `make test`. Both install first.
PY ?= python3

.PHONY: install demo test bench lint

install:
	PYTHON=$(PY) ./scripts/install.sh

demo: install
	$(PY) -m humimic demo

test: install
	$(PY) -m ruff check . && $(PY) -m ruff format --check . && $(PY) -m mypy
	$(PY) -m pytest -q

bench: install
	$(PY) benchmarks/physics_speed.py

lint:
	$(PY) -m ruff check . && $(PY) -m ruff format --check .
