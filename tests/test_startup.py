"""Start-up (samcam._startup): the guard knows ``python -m samcam`` from other programs."""
from __future__ import annotations


def test_the_start_up_guard_knows_python_m_samcam_from_other_programs():
    from samcam._startup import _module_run_by

    assert _module_run_by(["python", "-m", "samcam", "refine"]) == "samcam"
    assert _module_run_by(["python", "-u", "-X", "importtime", "-msamcam"]) == "samcam"
    assert _module_run_by(["python", "-m", "pytest", "-m", "samcam"]) == "pytest"
    assert _module_run_by(["python", "script.py", "-m", "samcam"]) is None
    assert _module_run_by(["python", "-c", "import samcam"]) is None

