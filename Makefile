# The README's two commands: `make demo` and `make test`. Both install first.
PY ?= python3

.PHONY: install demo test bench lint

install:
	PYTHON=$(PY) ./scripts/install.sh

demo: install
	humimic demo

test: install
	ruff check . && ruff format --check . && $(PY) -m mypy
	$(PY) -m pytest -q

bench: install
	$(PY) benchmarks/physics_speed.py

lint:
	ruff check . && ruff format --check .
