# `make up` starts the studio, `make test` runs every test. Both build .venv/ on first use.
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: up test bench clean

$(STAMP): pyproject.toml
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	@echo "installing Aurora and its dependencies into $(VENV)/ (first run only)"
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -e '.[dev]'
	@touch $@

up: $(STAMP)
	$(VENV)/bin/aurora up

test: $(STAMP)
	$(VENV)/bin/python -m pytest -q

bench: $(STAMP)
	$(VENV)/bin/aurora bench canvas

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
