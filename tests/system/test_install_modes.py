"""samcam.adapters (the top-level adapters/ folder) in every install mode.

* regular install (``pip install .``): adapters/ is copied to site-packages/samcam/adapters;
* editable install (``pip install -e .``, what ``make test`` does);
* ``python -m samcam`` / ``torchrun -m samcam`` started in the checkout's root, where
  the checkout's samcam/ shadows the installed package (the cluster case).

The regular install goes to a --target folder, and those runs use ``python -S`` with an
explicit PYTHONPATH, so no editable finder of this venv can help them.
"""
from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

import samcam

pytestmark = pytest.mark.install

REPO = Path(__file__).resolve().parents[2]
PROBE = "import samcam, samcam.adapters; print(samcam.__file__); print(samcam.adapters.__file__)"


def run(args, cwd, env=None, timeout=300):
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"{args} in {cwd} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def regular_install(tmp_path_factory):
    """samcam installed with `pip install --no-deps --target T .` from a copy of the checkout."""
    if importlib.util.find_spec("setuptools") is None or importlib.util.find_spec("wheel") is None:
        pytest.skip("building the package offline needs setuptools and wheel in this venv (make test installs them)")
    work = tmp_path_factory.mktemp("regular")
    source = work / "src"
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(".venv", ".git", "out", "build", "*.egg-info",
                                                                "__pycache__", ".pytest_cache"))
    target = work / "site"
    run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--target",
         str(target), str(source)], cwd=work)
    return target


def bare_env(*paths) -> dict:
    """PYTHONPATH with the given folders and this venv's site-packages (numpy, ...), for ``python -S``."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(p) for p in paths] + [sysconfig.get_paths()["purelib"]])
    return env


def test_regular_install_has_the_adapters(regular_install, tmp_path):
    assert (regular_install / "samcam" / "adapters" / "irn.py").is_file()
    out = run([sys.executable, "-S", "-c", PROBE], cwd=tmp_path, env=bare_env(regular_install)).split()
    assert out[0] == str(regular_install / "samcam" / "__init__.py")
    assert out[1] == str(regular_install / "samcam" / "adapters" / "__init__.py")
    help_text = run([sys.executable, "-S", "-m", "samcam", "adapt", "--help"], cwd=tmp_path,
                    env=bare_env(regular_install))
    assert "--method" in help_text and "irn" in help_text


def test_python_m_samcam_from_the_checkout_root_after_a_regular_install(regular_install):
    """The checkout's samcam/ shadows the installed one; adapters/ beside it is used."""
    env = bare_env(regular_install)
    out = run([sys.executable, "-S", "-c", PROBE], cwd=REPO, env=env).split()
    assert out[0] == str(REPO / "samcam" / "__init__.py")
    assert out[1] == str(REPO / "adapters" / "__init__.py")
    assert "COMMAND" in run([sys.executable, "-S", "-m", "samcam", "--help"], cwd=REPO, env=env)
    help_text = run([sys.executable, "-S", "-m", "samcam", "adapt", "--help"], cwd=REPO, env=env)
    assert "--method" in help_text and "toco" in help_text


def test_checkout_finder_is_not_used_for_an_installed_package(regular_install, tmp_path):
    """An unrelated top-level `adapters` package must never be taken for ours."""
    decoy = tmp_path / "decoy"
    (decoy / "adapters").mkdir(parents=True)
    (decoy / "adapters" / "__init__.py").write_text("raise SystemExit('decoy adapters imported')\n")
    out = run([sys.executable, "-S", "-c", PROBE], cwd=tmp_path, env=bare_env(regular_install, decoy)).split()
    assert out[1] == str(regular_install / "samcam" / "adapters" / "__init__.py")


def _editable() -> bool:
    """samcam is pip-installed in editable mode (a checkout's samcam.egg-info is not an install)."""
    from importlib.metadata import distributions

    for dist in distributions(name="samcam", path=[sysconfig.get_paths()["purelib"]]):
        text = dist.read_text("direct_url.json")
        if text and json.loads(text).get("dir_info", {}).get("editable", False):
            return True
    return False


def test_editable_install_finds_the_checkouts_adapters(tmp_path):
    if not _editable() or Path(samcam.__file__).resolve().parent != REPO / "samcam":
        pytest.skip("samcam is not installed in editable mode from this checkout here (make test installs it so)")
    out = run([sys.executable, "-c", PROBE], cwd=tmp_path).split()
    assert out == [str(REPO / "samcam" / "__init__.py"), str(REPO / "adapters" / "__init__.py")]
    assert "--method" in run([sys.executable, "-m", "samcam", "adapt", "--help"], cwd=tmp_path)


def test_torchrun_m_samcam_from_the_checkout_root(tmp_path):
    """What the README's `torchrun --nproc-per-node N -m samcam masks ...` line runs."""
    pytest.importorskip("torch.distributed.run", reason="torchrun needs torch ([sam] extra)")
    out = run([sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "1", "--master-port", "0",
               "-m", "samcam", "adapt", "--help"], cwd=REPO, timeout=120)
    assert "--method" in out
