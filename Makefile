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

.PHONY: setup system venv minimal test demo lint clean

setup: system venv minimal

system:
	@if ! dpkg -s $(APT_PACKAGES) >/dev/null 2>&1; then \
	  echo "installing Debian packages: $(APT_PACKAGES)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $(APT_PACKAGES) >/dev/null; \
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

test: setup
	$(PY) -m pytest -q

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# The main job. For now: what the model sees for a 1920x1080 screen and a parsed UI-TARS
# reply, through the installed command line. Later issues replace it with a live demo.
demo: setup
	$(VENV)/bin/pixelpilot --help
	$(VENV)/bin/pixelpilot resize 1920x1080 --dialect qwen25vl
	printf '%s\n' "Thought: The search box is at the top." "Action: click(start_box='<|box_start|>(500,500)<|box_end|>')" \
	  | $(VENV)/bin/pixelpilot parse --dialect uitars --screenshot-size 1920x1080

clean:
	rm -rf $(VENV) $(MINIMAL) .pytest_cache .ruff_cache .hypothesis *.egg-info
