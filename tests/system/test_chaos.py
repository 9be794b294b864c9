"""Chaos: ``kill -9`` a batch at random points, then resume; the outputs must be what a
clean run writes, byte for byte, with no temp files left and no process left behind.

Three ways to die, with ``--workers 2``: the main process (its workers must exit too),
one worker (the batch must carry on and finish), the whole process group. The batch
runs through tests/support/chaos_driver.py (``samcam`` with each image slowed down) so kills
land while workers are busy and often between a temp file's write and its rename.
Every output that exists right after a kill must already be complete.

``make test`` runs SAMCAM_CHAOS_RUNS kills per scenario (default 2); raise it for a
longer run, e.g. ``SAMCAM_CHAOS_RUNS=25 pytest tests/system/test_chaos.py``.
"""
from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from samcam import masks as store
from samcam.cli import main
from samcam.demo.synthetic import cam_to_label, make_scene
from samcam.io import write_label_png

pytestmark = [pytest.mark.chaos,
              pytest.mark.skipif(not Path("/proc/self/stat").exists(),
                                 reason="finds worker processes through /proc (Linux)")]

REPO = Path(__file__).resolve().parents[2]
DRIVER = Path(__file__).resolve().parents[1] / "support" / "chaos_driver.py"
RUNS = int(os.environ.get("SAMCAM_CHAOS_RUNS", "2"))
NAMES = [f"2008_{i:06d}" for i in range(16)]


# ------------------------------------------------------------------------------ processes

def _stat(pid: int):
    """(state, ppid, session) of a live process, None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            fields = handle.read().rsplit(b")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return fields[0].decode(), int(fields[1]), int(fields[3])


def _processes():
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            info = _stat(int(entry))
            if info is not None:
                yield int(entry), info


def session_members(session: int):
    """Live (not zombie) processes of a session: the batch and every worker it started."""
    return sorted(pid for pid, (state, _, sid) in _processes() if sid == session and state not in ("Z", "X"))


def children(pid: int):
    return sorted(child for child, (state, ppid, _) in _processes() if ppid == pid and state not in ("Z", "X"))


def wait_until(condition, timeout: float, step: float = 0.002) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step)
    return condition()


# ------------------------------------------------------------------------------- dataset

@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("chaos")
    rng = np.random.default_rng(0)
    (root / "cams").mkdir()
    for name in NAMES:
        scene = make_scene(rng, 48, 64)
        write_label_png(root / "pseudo" / f"{name}.png", cam_to_label(scene.cam))
        store.write(root / "masks" / name, scene.masks)
        np.save(root / "cams" / f"{name}.npy", scene.cam)  # IRN's layout: keys, cam, high_res
    return root


def command(root: Path, kind: str, out: Path):
    if kind == "refine":
        return ["refine", "--pseudo", str(root / "pseudo"), "--masks", str(root / "masks"), "--out", str(out)]
    return ["adapt", "--method", "irn", "--cams", str(root / "cams"), "--masks", str(root / "masks"), "--out", str(out)]


@pytest.fixture(scope="module")
def reference(dataset):
    """What a clean run writes: {kind: {file name: bytes}}."""
    outputs = {}
    for kind in ("refine", "adapt"):
        out = dataset / f"reference-{kind}"
        assert main(command(dataset, kind, out) + ["--no-progress"]) == 0
        outputs[kind] = {p.name: p.read_bytes() for p in finished_outputs(out)}
        assert len(outputs[kind]) == len(NAMES)
    return outputs


def start(root: Path, kind: str, out: Path) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    return subprocess.Popen([sys.executable, str(DRIVER)] + command(root, kind, out) + ["--workers", "2", "--no-progress"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True, env=env)


def finished_outputs(out: Path):
    return [p for p in out.iterdir() if p.suffix == ".png" and not p.name.startswith(".")] if out.is_dir() else []


# ---------------------------------------------------------------------------------- tests

SCENARIOS = [(mode, kind, run) for mode, kind in (("main", "refine"), ("worker", "refine"), ("group", "refine"),
                                                  ("main", "adapt"))
             for run in range(RUNS)]


@pytest.mark.parametrize("mode,kind,run", SCENARIOS, ids=[f"{m}-{k}-{r}" for m, k, r in SCENARIOS])
def test_kill_then_resume_gives_the_clean_run_bytes(dataset, reference, tmp_path, mode, kind, run):
    rng = random.Random(f"{mode}-{kind}-{run}")
    out = tmp_path / "out"
    expected = reference[kind]
    process = start(dataset, kind, out)
    session = process.pid
    try:
        # a random point: after 0..N-1 images are done (0: while the workers start)
        point = rng.randrange(len(NAMES))
        wait_until(lambda: len(finished_outputs(out)) >= point or process.poll() is not None, timeout=60)
        if mode == "worker":
            assert wait_until(lambda: children(process.pid) or process.poll() is not None, timeout=30)
            workers = children(process.pid)
            if workers:
                os.kill(rng.choice(workers), signal.SIGKILL)
            code = process.wait(timeout=120)
            stderr = process.stderr.read().decode()
            # the batch carries on: the killed worker's image is run again, alone
            assert code == 0, stderr
        else:
            if mode == "main":
                os.kill(process.pid, signal.SIGKILL)
            else:
                os.killpg(session, signal.SIGKILL)
            process.wait(timeout=30)
        # no orphans: every worker of the killed batch exits on its own
        assert wait_until(lambda: not session_members(session), timeout=10, step=0.05), session_members(session)
    finally:
        if process.poll() is None:
            os.killpg(session, signal.SIGKILL)
            process.wait()
        process.stdout.close()
        process.stderr.close()
    # atomic writes: whatever exists is complete
    for path in finished_outputs(out):
        assert path.read_bytes() == expected[path.name], path.name

    # resume
    resumed = start(dataset, kind, out)
    code = resumed.wait(timeout=120)
    stderr = resumed.stderr.read().decode()
    resumed.stdout.close()
    resumed.stderr.close()
    assert code == 0, stderr
    assert not session_members(resumed.pid)
    assert {p.name: p.read_bytes() for p in finished_outputs(out)} == expected  # byte-identical
    # nothing else but samcam.json (the settings, as a clean run records them): no temp files
    assert sorted(p.name for p in out.iterdir() if p.suffix != ".png") == ["samcam.json"]
    record = json.loads((out / "samcam.json").read_text())
    clean = json.loads((dataset / f"reference-{kind}" / "samcam.json").read_text())
    assert record["settings"]["refine"] == clean["settings"]["refine"]


# ------------------------------------------------------------------------- Ctrl-C: exit 130

PAUSE_HOOK = Path(__file__).resolve().parents[1] / "support" / "pause_hook"  # sitecustomize: stops the command at one point


def _env(**extra):
    paths = [str(PAUSE_HOOK), str(REPO)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    return dict(os.environ, PYTHONPATH=os.pathsep.join(paths), **extra)


def _interrupt_at(point: str, argv, marker: Path, program=None):
    """Run samcam until it reaches ``point`` (tests/support/pause_hook), send SIGINT to its process
    group as Ctrl-C does; returns (exit code, stderr)."""
    program = program or [sys.executable, "-m", "samcam"]
    process = subprocess.Popen(program + argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
                               env=_env(SAMCAM_TEST_PAUSE=point, SAMCAM_TEST_PAUSED=str(marker)))
    try:
        assert wait_until(lambda: marker.exists() or process.poll() is not None, timeout=60, step=0.02)
        assert process.poll() is None, f"{point} was never reached: {process.communicate()[1].decode()}"
        os.killpg(process.pid, signal.SIGINT)
        _, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert wait_until(lambda: not session_members(process.pid), timeout=10, step=0.05), "workers left behind"
    return process.returncode, err.decode()


STARTUP = [
    ("samcam.evaluate", "importing samcam (numpy, scipy, the rules)"),
    ("samcam.cli.vis", "importing the subcommands"),
    ("samcam.cli:build_parser", "building the parser"),
    ("samcam.refine:get_rule", "checking --rule while parsing (plug-ins)"),
    ("samcam.inputs:check_label_folder", "scanning the input folders"),
]


@pytest.mark.parametrize("point,when", STARTUP, ids=[p for p, _ in STARTUP])
def test_ctrl_c_while_starting_is_one_line_and_exit_130(dataset, tmp_path, point, when):
    """Before: a KeyboardInterrupt traceback and death by SIGINT (-2) for every point but the last."""
    out = tmp_path / "out"
    code, err = _interrupt_at(point, command(dataset, "refine", out) + ["--rule", "samcam", "--no-progress"],
                              tmp_path / "paused")
    assert code == 130, (when, err)
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, (when, err)
    assert ": interrupted" in err, (when, err)  # before the command runs: "interrupted while starting; ..."
    assert not finished_outputs(out)


def test_ctrl_c_while_the_console_script_imports_samcam(dataset, tmp_path):
    script = Path(sys.executable).with_name("samcam")
    if not script.exists():
        pytest.skip(f"no samcam console script beside {sys.executable} (pip install -e .)")
    code, err = _interrupt_at("samcam.evaluate", command(dataset, "refine", tmp_path / "out"), tmp_path / "paused",
                              program=[str(script)])
    assert code == 130 and err.strip() == "samcam: interrupted while starting; nothing was written", err


def test_ctrl_c_while_a_worker_starts_prints_no_worker_traceback(dataset, tmp_path):
    """Ctrl-C reaches every process of the group; a worker caught before it ignores SIGINT
    printed a KeyboardInterrupt traceback of its own ("Process ForkProcess-1: ...")."""
    out = tmp_path / "out"
    code, err = _interrupt_at("concurrent.futures.process:_process_worker",
                              command(dataset, "refine", out) + ["--workers", "2", "--no-progress"], tmp_path / "paused")
    assert code == 130 and "Traceback" not in err, err
    assert err.strip().splitlines()[-1] == "samcam refine: interrupted; finished outputs are kept and a rerun resumes"


@pytest.mark.parametrize("workers", ["1", "2"])
def test_ctrl_c_during_the_batch_keeps_finished_outputs_and_a_rerun_completes(dataset, reference, tmp_path, workers):
    out = tmp_path / "out"
    argv = [sys.executable, str(DRIVER)] + command(dataset, "refine", out) + ["--workers", workers, "--no-progress"]
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
                               env=_env(SAMCAM_CHAOS_DELAY="0.2"))
    try:
        assert wait_until(lambda: len(finished_outputs(out)) >= 3 or process.poll() is not None, timeout=60)
        os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C does: the batch and its workers
        _, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    err = err.decode()
    assert process.returncode == 130 and "Traceback" not in err, err
    assert err.strip().splitlines()[-1] == "samcam refine: interrupted; finished outputs are kept and a rerun resumes"
    assert wait_until(lambda: not session_members(process.pid), timeout=10, step=0.05)
    done = finished_outputs(out)
    assert 3 <= len(done) < len(NAMES)
    for path in done:
        assert path.read_bytes() == reference["refine"][path.name], path.name
    assert sorted(p.name for p in out.iterdir() if p.suffix != ".png") == ["samcam.json"]  # no temp files
    assert main(command(dataset, "refine", out) + ["--no-progress"]) == 0
    assert {p.name: p.read_bytes() for p in finished_outputs(out)} == reference["refine"]


def test_sigint_to_one_worker_alone_changes_nothing(dataset, reference, tmp_path):
    """Workers leave Ctrl-C to the main process: a SIGINT sent to a worker only is ignored."""
    out = tmp_path / "out"
    process = subprocess.Popen([sys.executable, str(DRIVER)] + command(dataset, "refine", out)
                               + ["--workers", "2", "--no-progress"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               start_new_session=True, env=_env(SAMCAM_CHAOS_DELAY="0.1"))
    try:
        assert wait_until(lambda: len(children(process.pid)) >= 2 or process.poll() is not None, timeout=60)
        for worker in children(process.pid):
            os.kill(worker, signal.SIGINT)
        _, err = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert process.returncode == 0 and "Traceback" not in err.decode(), err.decode()
    assert {p.name: p.read_bytes() for p in finished_outputs(out)} == reference["refine"]


# --------------------------------------------------------------------- two runs, one folder

def _run_slowly(root: Path, out: Path, rule: str, delay: str) -> subprocess.Popen:
    env = dict(os.environ, SAMCAM_CHAOS_DELAY=delay, SAMCAM_CHAOS_WRITE_DELAY="0",
               PYTHONPATH=os.pathsep.join([str(REPO)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    return subprocess.Popen([sys.executable, str(DRIVER)] + command(root, "refine", out)
                            + ["--rule", rule, "--workers", "2", "--no-progress"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True, env=env)


def test_two_runs_into_one_folder_never_mix(dataset, tmp_path):
    """Two `refine` runs with different rules started together into one --out: one writes
    every label, the other is refused at once naming the first's pid; the record and every
    label are the first's. (Without the folder lock both exited 0, the record naming one
    rule while most labels were the other's.)"""
    clean = {}
    for rule in ("samcam", "official"):
        assert main(command(dataset, "refine", tmp_path / f"clean-{rule}") + ["--rule", rule, "--no-progress"]) == 0
        clean[rule] = {p.name: p.read_bytes() for p in finished_outputs(tmp_path / f"clean-{rule}")}
    assert clean["samcam"] != clean["official"]
    out = tmp_path / "out"
    # each image takes 0.4 s: both runs are past their start-up before either writes a label
    runs = {rule: _run_slowly(dataset, out, rule, "0.4") for rule in ("samcam", "official")}
    results = {}
    for rule, process in runs.items():
        try:
            code = process.wait(timeout=120)
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        results[rule] = (code, process.stderr.read().decode(), process.pid)
        process.stdout.close()
        process.stderr.close()
    codes = sorted(code for code, _, _ in results.values())
    assert codes == [0, 2], results
    winner = next(rule for rule, (code, _, _) in results.items() if code == 0)
    loser = next(rule for rule in results if rule != winner)
    err = results[loser][1]
    assert f"another samcam run (pid {results[winner][2]}) is writing into this folder" in err, err
    assert err.count("error:") == 1
    record = json.loads((out / "samcam.json").read_text())
    assert record["settings"]["refine"]["rule"] == winner and len(record["runs"]) == 1
    assert {p.name: p.read_bytes() for p in finished_outputs(out)} == clean[winner]
    assert sorted(p.name for p in out.iterdir() if p.suffix != ".png") == ["samcam.json"]  # the lock file is gone

