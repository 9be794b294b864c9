import os
import sys

# tests/reference_rule.py is imported by several tests as a plain module.
sys.path.insert(0, os.path.dirname(__file__))

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
