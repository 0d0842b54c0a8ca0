# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test lint venv clean regress

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev,gpu]'
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/einsim passes workloads/cascades/*.ein
	$(VENV)/bin/einsim passes --taxonomy
	$(VENV)/bin/einsim map

lint: $(STAMP)
	$(VENV)/bin/ruff check einsim archs workloads studies tests

test: $(STAMP) lint
	TRITON_INTERPRET=1 $(PY) -m pytest -q -n 2 -p no:cacheprovider

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
