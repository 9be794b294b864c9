# `make demo` and `make test` each create .venv, install the project and run.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
# The torch/torchvision pair that installs from this machine's local disk.
PIP_INSTALL := $(PIP) install -c constraints.txt

.PHONY: venv demo check test test-core bench clean mmseg

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
	$(PIP_INSTALL) -q -e ".[sam,sam2,hq,mobilesam,sam3,coco,dev]"
	touch $@

venv: $(VENV)/.core-installed

demo: $(VENV)/.core-installed
	$(VENV)/bin/samcam demo --out out/demo

# Tests come in two tiers (markers in pyproject.toml, layout in tests/README.md):
# `make check` is ruff and the unit tier, every test not marked slow: under a minute on
# 2 cores, for the edit-test loop. `make test`, which CI runs (.ci/run), is ruff and every
# test: subprocesses, install modes, mmseg training, chaos, fuzz, the README's commands.
# Every extra is installed in the venv both use, so SAMCAM_NO_SKIP=1 turns any skipped
# test into a failure.
check: $(VENV)/.test-installed
	$(VENV)/bin/ruff check .
	SAMCAM_NO_SKIP=1 $(PY) -m pytest -q -rs -p no:cacheprovider -m "not slow" tests

test: $(VENV)/.test-installed
	$(VENV)/bin/ruff check .
	SAMCAM_NO_SKIP=1 $(PY) -m pytest -q -rs -p no:cacheprovider tests

# The core-only promise: a fresh venv with nothing but `pip install ".[dev]"` (no torch, no
# mmseg) passes, every test that needs more skipped with its reason printed (-rs). Rebuilt on
# each run with the venv's own pip and setuptools, as a user gets them; pytest is the venv's
# script, so the installed copy of samcam is tested, and SAMCAM_NO_SKIP is unset. build/ goes
# first: setuptools builds in build/lib and would keep a module deleted since the last build.
CORE_VENV ?= build/venv-core

test-core:
	rm -rf build $(CORE_VENV)
	$(PYTHON) -m venv $(CORE_VENV)
	$(CORE_VENV)/bin/python -m pip install -q ".[dev]"
	@for module in torch mmseg; do \
	  if $(CORE_VENV)/bin/python -c "import $$module" 2>/dev/null; then \
	    echo "test-core: $$module is importable in $(CORE_VENV); [dev] must not pull it in" >&2; exit 1; fi; done
	env -u SAMCAM_NO_SKIP $(CORE_VENV)/bin/pytest -q -rs -p no:cacheprovider tests

# Speed of refine and the mask store, then rule quality with intervals (numbers, not tests).
bench: $(VENV)/.test-installed
	$(PY) benchmarks/bench_refine.py
	$(PY) benchmarks/bench_rules.py --workers 2

clean:
	rm -rf $(VENV) out build *.egg-info
