# `make demo` and `make test` each create .venv, install the project and run.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
# The torch/torchvision pair that installs from this machine's local disk.
PIP_INSTALL := $(PIP) install -c constraints.txt

.PHONY: venv demo test bench clean mmseg

$(VENV)/.core-installed: setup.py constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q -U pip wheel "setuptools<81"
	$(PIP_INSTALL) -q -e .
	touch $@

# [mmseg] needs full mmcv (compiled mmcv.ops, imported by mmseg.models). PyPI has only
# its sdist: tools/build_mmcv_wheel.sh builds a CPU wheel for this torch once (~18 min
# on 2 idle cores) and caches it outside the repo, so later venvs install it in seconds.
MMCV_CACHE ?= $(HOME)/.cache/samcam-wheels

$(VENV)/.mmseg-installed: $(VENV)/.core-installed tools/build_mmcv_wheel.sh
	$(PIP_INSTALL) -q torch torchvision
	wheel="$$(tools/build_mmcv_wheel.sh $(PY) $(MMCV_CACHE))" && $(PIP_INSTALL) -q "$$wheel"
	$(PIP_INSTALL) -q -e ".[mmseg]"
	touch $@

mmseg: $(VENV)/.mmseg-installed

# The [sam2] extra's sam2 1.1.0 is a source archive only, built against the installed
# torch: --no-build-isolation keeps pip from fetching another torch into a build
# environment; SAM2_BUILD_CUDA=0 skips its optional CUDA extension (no CUDA toolkit on CI).
$(VENV)/.sam2-installed: $(VENV)/.core-installed
	$(PIP_INSTALL) -q torch torchvision
	SAM2_BUILD_CUDA=0 $(PIP_INSTALL) -q --no-build-isolation "sam2==1.1.0"
	touch $@

# Every mask model family: SAM, SAM 2.1, HQ-SAM, MobileSAM, SAM 3 (transformers, pinned in setup.py).
$(VENV)/.test-installed: $(VENV)/.core-installed $(VENV)/.mmseg-installed $(VENV)/.sam2-installed setup.py
	$(PIP_INSTALL) -q -e ".[sam,sam2,hq,mobilesam,sam3,dev]"
	touch $@

venv: $(VENV)/.core-installed

demo: $(VENV)/.core-installed
	$(VENV)/bin/samcam demo --out out/demo

# Every extra is installed here, so SAMCAM_NO_SKIP=1 turns any skipped test into a failure.
test: $(VENV)/.test-installed
	$(VENV)/bin/ruff check .
	SAMCAM_NO_SKIP=1 $(PY) -m pytest -q -rs -p no:cacheprovider tests

# Speed of refine and the mask store, then rule quality with intervals (numbers, not tests).
bench: $(VENV)/.test-installed
	$(PY) benchmarks/bench_refine.py
	$(PY) benchmarks/bench_rules.py --workers 2

clean:
	rm -rf $(VENV) out build *.egg-info
