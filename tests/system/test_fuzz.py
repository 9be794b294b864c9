"""The fuzz suite: every input samcam reads, mutated at random and field by field, gives a
clean error naming the file or a correct result; never a crash, a hang or a memory bomb.

Each target runs in its own process (tests/support/fuzz_runner.py) whose address space is capped
(``RLIMIT_AS``: what it maps after imports + 1 GiB, with samcam's size limits lowered), so
a segfault, a runaway allocation or a hang fails its test here instead of taking pytest
down. Seeded, so a run is reproducible.

``make test`` tries SAMCAM_FUZZ_EXAMPLES inputs per target (default 40, about half a
minute in all); a longer run is one variable away:

    SAMCAM_FUZZ_EXAMPLES=5000 SAMCAM_FUZZ_SEED=7 pytest tests/system/test_fuzz.py -s
"""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.fuzz

REPO = Path(__file__).resolve().parents[2]
RUNNER = Path(__file__).resolve().parents[1] / "support" / "fuzz_runner.py"
EXAMPLES = int(os.environ.get("SAMCAM_FUZZ_EXAMPLES", "40"))
SEED = int(os.environ.get("SAMCAM_FUZZ_SEED", "0"))
# the runner's targets, read from its source (importing it would change this process's limits)
TARGETS = re.findall(r'^    "(\w+)": \(lambda', RUNNER.read_text(encoding="utf-8"), flags=re.M)


def test_every_input_kind_has_a_target():
    assert set(TARGETS) == {"store_bytes", "store_fields", "png_folder", "rle_bytes", "rle_fields", "rle_containers",
                            "metadata_csv", "label_bytes", "label_fields", "cam_bytes", "cam_fields", "pickle_opcodes"}


def test_every_methods_cam_files_are_fuzzed():
    """The CAM targets mutate the CAM files of every built-in method (irn and amn hold
    torch tensors: added by the runner when torch is installed)."""
    from samcam import adapters

    methods = re.search(r'^METHODS = (\[.*?\])', RUNNER.read_text(encoding="utf-8"), flags=re.M).group(1)
    built_in = {name for name in adapters.available() if adapters.origin(name) == "built in"}
    assert set(json.loads(methods)) | {"irn", "amn"} == built_in


@pytest.mark.parametrize("target", TARGETS)
def test_fuzz(target, tmp_path):
    stats_file, last = tmp_path / "stats.json", tmp_path / "last-input"
    env = dict(os.environ, OMP_NUM_THREADS="1", MALLOC_ARENA_MAX="2",
               PYTHONPATH=os.pathsep.join([str(REPO)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    timeout = 120 + 2 * EXAMPLES
    command = [sys.executable, str(RUNNER), target, "--examples", str(EXAMPLES), "--seed", str(SEED),
               "--stats", str(stats_file), "--last", str(last)]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env, cwd=tmp_path)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{target}: no answer after {timeout} s (a hang?); the input being tried is in {last}")
    output = (result.stdout + result.stderr)[-6000:]
    if result.returncode < 0:
        name = signal.Signals(-result.returncode).name
        files = sorted(p.name for p in last.iterdir()) if last.is_dir() else []
        pytest.fail(f"{target}: the process died with {name} on the input in {last} ({files}):\n{output}")
    assert result.returncode == 0, f"{target}: an input was not handled cleanly:\n{output}"
    stats = json.loads(stats_file.read_text())
    print(f"{target}: {json.dumps(stats, sort_keys=True)}")
    assert stats["inputs tried"] >= min(EXAMPLES, 10)
    assert stats["inputs tried"] == stats.get("clean error", 0) + stats.get("correct result", 0)
