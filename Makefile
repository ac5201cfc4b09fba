# One command to set up and run the demo, one to set up and run the tests (.ci/run calls `make test`).
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
# Browsers and drivers come from Debian; Java runs the Selenium Grid of the --remote tests and compiles and
# tests the Android app's measurement core (javac + JUnit 4) without the Android SDK.
SYSTEM_PACKAGES := chromium chromium-driver default-jdk-headless junit4

.PHONY: setup system-deps demo test lint bench clean android-shell ios-core

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

# The Android shell compiled with javac -Werror against the REAL onnxruntime-android classes (the AAR inside the
# npm package com.github.asus4.onnxruntime, pinned by its lock file) and stubs for android.* / LiteRT only.
android_app/tools/ortjar/node_modules/.installed: android_app/tools/ortjar/package.json \
    android_app/tools/ortjar/package-lock.json
	cd android_app/tools/ortjar && npm ci --no-audit --no-fund --loglevel=error
	touch $@

android-shell: system-deps android_app/tools/ortjar/node_modules/.installed
	python3 android_app/tools/compile_shell.py

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

# The iOS app's measurement core (ios_app/DeviceLab/Core) and its XCTests, built and run with Swift 6 in a Debian
# trixie chroot cached outside the clone (DEVICELAB_SWIFT_CHROOT, default /var/cache/devicelab/swift-trixie;
# ~2.6 GB, made once with debootstrap, as root). `scripts/ios_core.sh clean` removes it.
ios-core:
	bash scripts/ios_core.sh

test: setup system-deps tests/grid/node_modules/.installed lint android-shell ios-core
	$(PY) -m pytest -q

bench: setup system-deps
	$(PY) benchmarks/host_tflite_overhead.py
	$(PY) benchmarks/host_executorch_overhead.py
	$(PY) benchmarks/browser_wasm_overhead.py
	$(PY) benchmarks/browser_litert_overhead.py
	$(PY) benchmarks/demo_phases.py
	$(PY) benchmarks/batch_parallel.py
	$(PY) benchmarks/any_model_overhead.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache web_runner/node_modules tests/grid/node_modules
