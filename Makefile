# One-command set-up on a fresh Debian 12 machine (root, Python 3.11, registries only).
# Every step checks whether it is already done, so re-running is fast.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
# chromium + fonts for the browser tests; Xvfb, xdotool and Tk for the desktop tests
APT_PACKAGES := chromium fonts-liberation fonts-noto-cjk xvfb xdotool x11-utils xauth libtk8.6
# torch is pinned to the build that lies on local disk; a bare "torch" pulls GBs of CUDA.
TORCH := torch==2.14.1 torchvision==0.29.1
INSTALLED := $(VENV)/.pixelpilot-installed
# A second, minimal install (CPU torch without torchvision) that tests the image-only path.
MINIMAL := .venv-minimal
MINIMAL_TORCH := torch==2.13.0
# GOV.UK Frontend from npm, pinned: the real UI the grounding set tests render
GOVUK_VERSION := 6.6.0
GOVUK := govuk-frontend-$(GOVUK_VERSION)
GOVUK_DIR := .cache/$(GOVUK)

.PHONY: setup system venv minimal govuk test demo lint clean

setup: system venv minimal

# npm (for `make govuk`) is looked for as a command, not by dpkg: NodeSource's nodejs
# package ships it and conflicts with Debian's npm, which is installed only where none is.
system:
	@if ! dpkg -s $(APT_PACKAGES) >/dev/null 2>&1; then \
	  echo "installing Debian packages: $(APT_PACKAGES)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $(APT_PACKAGES) >/dev/null; \
	fi
	@if ! command -v npm >/dev/null 2>&1; then \
	  echo "installing Debian package: npm"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends npm >/dev/null; \
	fi

venv: $(INSTALLED)

$(INSTALLED): pyproject.toml
	@test -x $(PY) || python3 -m venv $(VENV)
	@$(PY) -c "import torch, torchvision" 2>/dev/null || $(PIP) install -q $(TORCH)
	$(PIP) install -q -e ".[dev]"
	@touch $@

minimal: $(MINIMAL)/.pixelpilot-installed

$(MINIMAL)/.pixelpilot-installed: pyproject.toml
	@test -x $(MINIMAL)/bin/python || python3 -m venv $(MINIMAL)
	@$(MINIMAL)/bin/python -c "import torch" 2>/dev/null || $(MINIMAL)/bin/python -m pip install -q $(MINIMAL_TORCH)
	$(MINIMAL)/bin/python -m pip install -q -e ".[local]"
	@touch $@

govuk: $(GOVUK_DIR)/package/package.json

$(GOVUK_DIR)/package/package.json: | system
	@mkdir -p $(GOVUK_DIR)
	@test -f .cache/$(GOVUK).tgz || npm pack govuk-frontend@$(GOVUK_VERSION) --pack-destination .cache --loglevel=warn >/dev/null
	tar -xzf .cache/$(GOVUK).tgz -C $(GOVUK_DIR)
	@touch $@

test: setup govuk
	$(PY) -m pytest -q

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# The main job: the agent on the bundled demo shop with the default model
# (Qwen/Qwen2-VL-2B-Instruct from the local cache or the hub). Where neither has it, the
# command says so and runs the pipeline check instead: an oracle answers from the page's
# DOM, clearly labelled, no model involved. Trajectory, MP4 and report land in runs/.
demo: setup
	$(VENV)/bin/pixelpilot demo --fallback-oracle

clean:
	rm -rf $(VENV) $(MINIMAL) .pytest_cache .ruff_cache .hypothesis *.egg-info
