# One command to set up and run the demo, one to set up and run the tests (.ci/run calls `make test`).
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip

.PHONY: setup demo test lint bench clean

setup: $(VENV)/.installed

# The ML stack only resolves in ONE pip call (see DESIGN.md); the constraints file pins what we tested.
$(VENV)/.installed: pyproject.toml requirements/constraints.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -c requirements/constraints.txt -e '.[all,dev]'
	touch $@

demo: setup
	$(VENV)/bin/devicelab demo

lint: setup
	$(VENV)/bin/ruff check .

test: setup lint
	$(PY) -m pytest -q

bench: setup
	$(PY) benchmarks/host_tflite_overhead.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
