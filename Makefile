# pixsim: one-command set-up on a fresh machine.
#   make reproduce   the main job: quick profile end to end, ending with results/<profile>/book/_build/html/index.html
#   make test        create .venv, install pixsim[dev], run ruff (the linter), get Chromium (make browser), then the test suite
# Variables: PYTHON (interpreter used to create the venv), VENV (its folder), PROFILE, JOBS.

PYTHON  ?= python3
VENV    ?= .venv
PROFILE ?= quick
JOBS    ?= 2
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.installed

.PHONY: install lint browser test test-fast reproduce smoke data book benchmarks clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

# Obtain Fashion-MNIST (used by the quick profile and some tests) or stop with one message.
data: $(STAMP)
	PATH="$(abspath $(VENV))/bin:$$PATH" bash scripts/get_fashion_mnist.sh

# Lint what CI lints (configuration: [tool.ruff] in pyproject.toml).
lint: $(STAMP)
	$(VENV)/bin/ruff check pixsim tests benchmarks

# Headless Chromium and its driver for the browser check of the book (tests/test_browser.py):
# nothing to do when both are on PATH; installed with apt-get when run as root where apt is (as on
# CI); otherwise one line says how to get them (the browser tests then skip).
CHROMIUM_DEB := chromium chromium-driver
browser:
	@if { command -v chromium || command -v chromium-browser || command -v google-chrome; } >/dev/null 2>&1 \
	    && command -v chromedriver >/dev/null 2>&1; then :; \
	elif command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	  echo "installing $(CHROMIUM_DEB) for tests/test_browser.py"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(CHROMIUM_DEB)) \
	    || echo "warning: could not install $(CHROMIUM_DEB); tests/test_browser.py will skip"; \
	else \
	  echo "note: tests/test_browser.py will skip: no chromium and chromedriver on PATH (Debian: sudo apt-get install $(CHROMIUM_DEB), or run make test as root)"; \
	fi

test: lint browser
	PATH="$(abspath $(VENV))/bin:$$PATH" $(PY) -m pytest

test-fast: $(STAMP)
	PATH="$(abspath $(VENV))/bin:$$PATH" $(PY) -m pytest -m "not slow"

reproduce: data
	PATH="$(abspath $(VENV))/bin:$$PATH" $(VENV)/bin/pixsim reproduce --profile $(PROFILE) --jobs $(JOBS)

smoke:
	$(MAKE) reproduce PROFILE=smoke

benchmarks: $(STAMP)
	for b in benchmarks/*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf _build .pytest_cache
