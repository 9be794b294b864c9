"""What every test shares: the helper modules on sys.path, the ``refine_data`` fixture, and
the rule that a skip says why (and that ``make test`` skips nothing).

tests/README.md describes the layout (one test module per package module) and the markers.
"""
import logging
import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
# The helpers in tests/support/ are imported as plain modules (``from tiny_sam import tiny_sam``);
# pytest imports the test modules themselves with --import-mode=importlib (pyproject.toml), so
# test files in different folders may share a name; test files never import each other.
sys.path.insert(0, os.path.join(HERE, "support"))
collect_ignore = ["support"]

from refine_data import make_refine_data  # noqa: E402  (needs the path above)

# These suites are slow whatever their size: `-m "not slow"` (make check) leaves them out.
SLOW_SUITES = ("mmseg", "install", "chaos", "fuzz")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if any(item.get_closest_marker(name) for name in SLOW_SUITES):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(autouse=True)
def _no_cli_log_handler():
    """``samcam.cli.main`` logs to the stderr it found (in a test: pytest's capture, closed after
    the test); later library calls in the same process must not write there."""
    yield
    logger = logging.getLogger("samcam")
    for handler in list(logger.handlers):
        if getattr(handler, "_samcam_cli", False):
            logger.removeHandler(handler)


@pytest.fixture
def refine_data(tmp_path):
    """pseudo/{name}.png + masks/{name}.masks.npz for 6 small scenes; (root, labels, masks)."""
    return make_refine_data(tmp_path)


# The tiny SAM 3, for tests/sam/test_sam3_family.py and tests/cli/test_concept_masks.py.
@pytest.fixture(scope="module")
def hf():
    """transformers with Sam3Model (SAM 3 tests skip, saying why, without the [sam3] extra)."""
    pytest.importorskip("torch", reason="SAM 3 needs torch (the [sam3] extra)")
    transformers = pytest.importorskip("transformers", reason="SAM 3 needs transformers 5 (the [sam3] extra)")
    if not hasattr(transformers, "Sam3Model"):
        pytest.skip(f"transformers {transformers.__version__} has no Sam3Model; the [sam3] extra installs one that has")
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny ops: intra-op threads only slow them down on 2 cores
    yield transformers
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def folder(hf, tmp_path_factory):
    """The tiny random-weight SAM 3 saved in the Hugging Face layout (tests/support/tiny_sam3.py)."""
    import tiny_sam3

    return tiny_sam3.save_tiny_sam3(tmp_path_factory.mktemp("sam3") / "tiny")


@pytest.fixture(scope="module")
def video_folder(hf, tmp_path_factory):
    """The tiny SAM 3 in the official folder's layout (sam3_video: detector and tracker)."""
    import tiny_sam3

    return tiny_sam3.save_tiny_sam3_video(tmp_path_factory.mktemp("sam3video") / "tiny")

# What pytest reports for pytest.skip() / @pytest.mark.skip / skipif(reason="") without a reason.
_NO_REASON = {"", "Skipped", "unconditional skip"}


def _skip_reason(report) -> str:
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    return reason[len("Skipped: "):] if reason.startswith("Skipped: ") else reason


def _fail_run(session, reporter, headline, reports):
    reporter.write_line(headline, red=True)
    for report in reports:
        reporter.write_line(f"  {report.nodeid}: {_skip_reason(report)}")
    session.exitstatus = 1


def pytest_sessionfinish(session, exitstatus):
    """A skip must say why; with SAMCAM_NO_SKIP=1 (set by `make test`) any skip fails the run.

    `make test` installs every extra, so nothing may be skipped there; a plain
    `pip install ".[dev]"` + pytest (`make test-core`) skips the torch/mmseg tests with
    their reasons, and a skip without one fails it too.
    """
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter else []
    silent = [report for report in skipped if _skip_reason(report).strip() in _NO_REASON]
    if silent:
        _fail_run(session, reporter, f"{len(silent)} test(s) were skipped without a reason; give each skip one:",
                  silent)
    if skipped and os.environ.get("SAMCAM_NO_SKIP") == "1":
        _fail_run(session, reporter,
                  f"SAMCAM_NO_SKIP=1: {len(skipped)} test(s) were skipped; `make test` must run all:", skipped)
