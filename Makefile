# `make demo` and `make test` each create .venv, install the project and run.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
# The torch/torchvision pair that installs from this machine's local disk.
PIP_INSTALL := $(PIP) install -c constraints.txt

.PHONY: venv demo test bench clean

$(VENV)/.core-installed: setup.py constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q -U pip wheel "setuptools<81"
	$(PIP_INSTALL) -q -e .
	touch $@

$(VENV)/.test-installed: $(VENV)/.core-installed
	$(PIP_INSTALL) -q -e ".[sam,dev]"
	touch $@

venv: $(VENV)/.core-installed

demo: $(VENV)/.core-installed
	$(VENV)/bin/samcam demo --out out/demo

test: $(VENV)/.test-installed
	$(PY) -m pytest -q -p no:cacheprovider tests

bench: $(VENV)/.test-installed
	$(PY) benchmarks/bench_refine.py

clean:
	rm -rf $(VENV) out build *.egg-info
