# One command to set up and run the demo, one to set up and run the tests (.ci/run calls `make test`).
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
# Browsers and drivers come from Debian; Java runs the Selenium Grid of the --remote tests and compiles and
# tests the Android app's measurement core (javac + JUnit 4) without the Android SDK.
SYSTEM_PACKAGES := chromium chromium-driver default-jdk-headless junit4

.PHONY: setup system-deps demo test lint bench clean

setup: $(VENV)/.installed web_runner/node_modules/.installed

# The ML stack only resolves in ONE pip call (see DESIGN.md); the constraints file pins what we tested.
$(VENV)/.installed: pyproject.toml requirements/constraints.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -c requirements/constraints.txt -e '.[all,dev]'
	touch $@

web_runner/node_modules/.installed: web_runner/package.json web_runner/package-lock.json
	cd web_runner && npm ci --no-audit --no-fund --loglevel=error
	touch $@

tests/grid/node_modules/.installed: tests/grid/package.json tests/grid/package-lock.json
	cd tests/grid && npm ci --no-audit --no-fund --loglevel=error
	touch $@

# Installs what is missing when it can (root with apt-get, as on CI); otherwise says what to install.
system-deps:
	@if command -v chromedriver >/dev/null && command -v javac >/dev/null && [ -f /usr/share/java/junit4.jar ] && \
	    { [ -x /usr/lib/chromium/chromium ] || command -v google-chrome >/dev/null; }; then :; \
	elif command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	    $(SYSTEM_PACKAGES) >/dev/null; \
	else echo "devicelab: browser measurements need: $(SYSTEM_PACKAGES)"; fi

demo: setup system-deps
	$(VENV)/bin/devicelab demo

lint: setup
	$(VENV)/bin/ruff check .

test: setup system-deps tests/grid/node_modules/.installed lint
	$(PY) -m pytest -q

bench: setup system-deps
	$(PY) benchmarks/host_tflite_overhead.py
	$(PY) benchmarks/browser_wasm_overhead.py
	$(PY) benchmarks/browser_litert_overhead.py
	$(PY) benchmarks/demo_phases.py
	$(PY) benchmarks/batch_parallel.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache web_runner/node_modules tests/grid/node_modules
