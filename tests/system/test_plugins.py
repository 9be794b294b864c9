"""Plug-ins through entry points: separate packages, installed with pip, used from the CLI.

``tests/support/plugin_package`` (``samcam-test-plugins``) registers the method ``toymethod`` and
the rules ``toyrule`` and ``toymap``; ``tests/support/plugin_package_broken`` registers plug-ins
that cannot work; ``examples/plugin`` is the documented example (a method and a rule). Each is installed
with ``pip install --target`` into a throwaway folder (no network: ``--no-index``, no
build isolation), and samcam runs in a fresh interpreter with that folder on its path,
so the entry points are found by ``importlib.metadata`` exactly as for any installed
package.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import samcam
from samcam import adapters, provenance
from samcam import masks as samcam_masks
from samcam.io import read_label_png, write_label_png

pytestmark = pytest.mark.install

SUPPORT = Path(__file__).resolve().parents[1] / "support"
REPO = Path(__file__).resolve().parents[2]
H, W = 23, 31


def pip_install(package: Path, tmp: Path) -> Path:
    """``pip install --target`` of a test package (copied first: a build writes into its source)."""
    source = tmp / "src" / package.name
    shutil.copytree(package, source)
    target = tmp / "site"
    done = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", "--no-build-isolation",
         "--target", str(target), str(source)],
        capture_output=True, text=True, env=dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK="1"),
    )
    assert done.returncode == 0, f"pip could not install {package}: {done.stderr}"
    assert list(target.glob("*.dist-info/entry_points.txt")), "the install has no entry points"
    return target


@pytest.fixture(scope="module")
def good_site(tmp_path_factory) -> Path:
    return pip_install(SUPPORT / "plugin_package", tmp_path_factory.mktemp("good"))


@pytest.fixture(scope="module")
def broken_site(tmp_path_factory) -> Path:
    return pip_install(SUPPORT / "plugin_package_broken", tmp_path_factory.mktemp("broken"))


@pytest.fixture(scope="module")
def example_site(tmp_path_factory) -> Path:
    return pip_install(REPO / "examples" / "plugin", tmp_path_factory.mktemp("example"))


def samcam_cli(site: Path, *argv, cwd: Path) -> subprocess.CompletedProcess:
    """``python -m samcam ...`` in a fresh interpreter that sees ``site`` (and this checkout)."""
    path = os.pathsep.join([str(site), str(REPO)] + [p for p in [os.environ.get("PYTHONPATH")] if p])
    return subprocess.run([sys.executable, "-m", "samcam", *map(str, argv)], cwd=cwd, capture_output=True,
                          text=True, env=dict(os.environ, PYTHONPATH=path))


def toy_scene(seed: int):
    """A CAM file of the toy method ({"cls": int64 (K,) 0-based, "maps": float32 (K, H, W)}) and masks."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:H, 0:W]
    cls = np.array([4, 11], np.int64)
    maps = np.stack([np.clip(1 - np.hypot(yy - 8, xx - 9) / 9, 0, 1),
                     np.clip(1 - np.hypot(yy - 14, xx - 22) / 8, 0, 1)]).astype(np.float32)
    maps += rng.random(maps.shape).astype(np.float32) * 0.05
    masks = np.stack([np.hypot(yy - 8, xx - 9) <= 7, np.hypot(yy - 14, xx - 22) <= 7, yy < 4, np.ones((H, W), bool)])
    return {"cls": cls, "maps": maps}, masks


def toy_own_label(cam_dict, threshold=0.3):
    """The toy method's rule, restated: a constant plane, argmax, 0-based classes + 1."""
    cams = np.pad(cam_dict["maps"], ((1, 0), (0, 0), (0, 0)), mode="constant", constant_values=threshold)
    return np.pad(cam_dict["cls"] + 1, (1, 0))[np.argmax(cams, axis=0)].astype(np.uint8)


def test_a_plugged_in_method_runs_end_to_end_from_the_cli(good_site, tmp_path):
    (tmp_path / "cams").mkdir(), (tmp_path / "masks").mkdir()
    scenes = {}
    for seed, name in enumerate(["2007_000032", "2007_000039"]):
        cam_dict, masks = toy_scene(seed)
        np.save(tmp_path / "cams" / f"{name}.npy", cam_dict)
        samcam_masks.write(tmp_path / "masks" / name, masks)
        scenes[name] = (cam_dict, masks)
    listing = samcam_cli(good_site, "adapt", "--method", cwd=tmp_path)
    assert listing.returncode == 0, listing.stderr
    assert "toymethod" in listing.stdout and "plug-in from samcam-test-plugins 0.1.0" in listing.stdout
    assert "irn" in listing.stdout and "clip-es" in listing.stdout  # the built-in ones too
    run = samcam_cli(good_site, "adapt", "--no-progress", "--method", "toymethod", "--cams", "cams",
                     "--masks", "masks", "--out", "refined", "--workers", "2", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    for name, (cam_dict, masks) in scenes.items():
        expected = samcam.refine(toy_own_label(cam_dict), masks)
        np.testing.assert_array_equal(read_label_png(tmp_path / "refined" / f"{name}.png"), expected)
    assert f"python toy_train.py --labels {tmp_path / 'refined'}" in run.stdout  # its continuation
    # its declaration is held to the same checks as a built-in one: its own folder is refused
    guard = samcam_cli(good_site, "adapt", "--no-progress", "--method", "toymethod", "--cams", "cams",
                       "--masks", "masks", "--out", "toy/cams", cwd=tmp_path)
    assert guard.returncode == 2 and "own stages write" in guard.stderr
    # without the package the method is unknown
    absent = samcam_cli(tmp_path / "nothing", "adapt", "--method", "toymethod", "--masks", "m", "--out", "o",
                        cwd=tmp_path)
    assert absent.returncode == 2 and "unknown method 'toymethod'" in absent.stderr


def test_broken_plugins_are_named_and_the_rest_keeps_working(broken_site, tmp_path):
    listing = samcam_cli(broken_site, "adapt", "--method", cwd=tmp_path)
    assert listing.returncode == 0, listing.stderr
    out = listing.stdout
    assert "broken     NOT USABLE" in out and "samcam_dependency_that_is_not_installed" in out
    assert "irn        NOT USABLE" in out and "built-in name 'irn'" in out
    assert "notamethod NOT USABLE" in out and "not a samcam.adapters.base.MethodAdapter" in out
    assert "wrongname  NOT USABLE" in out and "declares the name 'irn'" in out
    assert "toco       ToCo" in out  # the other methods are still there
    for method, message in (("broken", "failed to load: ModuleNotFoundError"), ("irn", "cannot be replaced")):
        run = samcam_cli(broken_site, "adapt", "--method", method, "--cams", "c", "--masks", "m", "--out", "o",
                         cwd=tmp_path)
        assert run.returncode == 2 and message in run.stderr, run.stderr
        assert "samcam-broken-plugins 0.1.0" in run.stderr  # names the package to blame
    assert not (tmp_path / "o").exists()


def test_plugins_from_python(good_site, monkeypatch):
    monkeypatch.syspath_prepend(str(good_site))
    adapters.refresh()
    try:
        toy = adapters.get("toymethod")
        assert adapters.origin("toymethod").startswith("samcam-test-plugins 0.1.0")
        assert adapters.origin("irn") == "built in"
        cam_dict, masks = toy_scene(3)
        np.testing.assert_array_equal(toy.cam_to_label(cam_dict), toy_own_label(cam_dict))
        np.testing.assert_array_equal(toy.refine_cam(cam_dict, masks), samcam.refine(toy_own_label(cam_dict), masks))
    finally:
        monkeypatch.undo()
        adapters.refresh()
    assert "toymethod" not in adapters.available()


def test_the_example_plugin_works_as_its_readme_says(example_site, tmp_path):
    """examples/plugin, installed with pip: ``samcam-adapt --method`` lists it and it refines MyCAM's files."""
    listing = samcam_cli(example_site, "adapt", "--method", cwd=tmp_path)
    assert "mycam      MyCAM (example/mycam), plug-in from samcam-mycam 0.1.0" in listing.stdout
    (tmp_path / "mycam_out" / "cams").mkdir(parents=True), (tmp_path / "masks").mkdir()
    toy, masks = toy_scene(5)
    cam_dict = {"keys": toy["cls"], "cams": toy["maps"]}  # tools/make_cams.py:80 of the example
    np.save(tmp_path / "mycam_out" / "cams" / "2007_000032.npy", cam_dict)
    samcam_masks.write(tmp_path / "masks" / "2007_000032", masks)
    run = samcam_cli(example_site, "adapt", "--no-progress", "--method", "mycam", "--cams", "mycam_out/cams",
                     "--masks", "masks", "--out", "mycam_out/refined", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    own = toy_own_label({"cls": toy["cls"], "maps": toy["maps"]}, threshold=0.35)  # tools/eval_cams.py:31
    np.testing.assert_array_equal(read_label_png(tmp_path / "mycam_out" / "refined" / "2007_000032.png"),
                                  samcam.refine(own, masks))
    assert "python train_seg.py --labels" in run.stdout


# ------------------------------------------------------------------------- rules

def toyrule_restated(label, masks, share=0.5):
    """samcam_test_plugins.rule:decide, one mask and one pixel at a time: each mask to its majority
    class among its known pixels if that class holds more than ``share`` of them, smaller masks first
    (ties by index); the first such mask covering a pixel paints it; elsewhere the label stays."""
    used = []
    for k, mask in enumerate(masks):
        values = label[mask]
        known = values[values != 255]
        if known.size == 0:
            continue
        classes, counts = np.unique(known, return_counts=True)
        best = classes[np.argmax(counts)]  # np.unique sorts: ties go to the lower class, as argmax does
        if counts.max() > share * known.size:
            used.append((int(mask.sum()), k, int(best)))
    out = label.copy()
    painted = np.zeros(label.shape, bool)
    for _, k, cls in sorted(used):
        fresh = masks[k] & ~painted
        out[fresh] = cls
        painted |= fresh
    return out


def refine_dataset(root: Path, count: int = 3):
    (root / "pseudo").mkdir(parents=True), (root / "masks").mkdir()
    cases = {}
    for seed in range(count):
        rng = np.random.default_rng(seed)
        cam_dict, masks = toy_scene(seed)
        label = toy_own_label(cam_dict)
        label[rng.random(label.shape) < 0.03] = 255
        name = f"2007_{seed:06d}"
        write_label_png(root / "pseudo" / f"{name}.png", label)
        samcam_masks.write(root / "masks" / name, masks)
        cases[name] = (label, masks)
    return cases


def test_a_plugged_in_rule_runs_end_to_end_from_the_cli(good_site, tmp_path):
    listing = samcam_cli(good_site, "refine", "--rule", cwd=tmp_path)
    assert listing.returncode == 0, listing.stderr
    assert "toyrule" in listing.stdout and "plug-in from samcam-test-plugins 0.1.0" in listing.stdout
    assert "parameters: share=0.5" in listing.stdout and "official" in listing.stdout
    cases = refine_dataset(tmp_path)
    run = samcam_cli(good_site, "refine", "--no-progress", "--rule", "toyrule", "--rule-param", "share=0.6",
                     "--pseudo", "pseudo", "--masks", "masks", "--out", "refined", "--workers", "2", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    changed = 0
    for name, (label, masks) in cases.items():
        expected = toyrule_restated(label, masks, share=0.6)
        np.testing.assert_array_equal(read_label_png(tmp_path / "refined" / f"{name}.png"), expected)
        changed += int(not np.array_equal(expected, label))
    assert changed
    record = provenance.read(tmp_path / "refined")["settings"]["refine"]
    assert record["rule"] == "toyrule" and record["share"] == 0.6
    assert record["rule_origin"] == "samcam-test-plugins (samcam_test_plugins.rule:RULE)"
    # a parameter the rule does not have is a usage error, before any image
    bad = samcam_cli(good_site, "refine", "--no-progress", "--rule", "toyrule", "--rule-param", "ratio=0.6",
                     "--pseudo", "pseudo", "--masks", "masks", "--out", "other", cwd=tmp_path)
    assert bad.returncode == 2 and "has no parameter(s) ['ratio']" in bad.stderr
    assert not list((tmp_path / "other").glob("*.png"))
    # a rule that returns a label map
    run = samcam_cli(good_site, "refine", "--no-progress", "--rule", "toymap", "--pseudo", "pseudo",
                     "--masks", "masks", "--out", "mapped", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    for name, (label, masks) in cases.items():
        np.testing.assert_array_equal(read_label_png(tmp_path / "mapped" / f"{name}.png"),
                                      np.where(masks.any(axis=0), 0, label))


def test_a_plugged_in_method_with_a_plugged_in_rule(good_site, tmp_path):
    """The done-when case: a method and a rule from one separately installed package, one command."""
    (tmp_path / "cams").mkdir(), (tmp_path / "masks").mkdir()
    cam_dict, masks = toy_scene(7)
    np.save(tmp_path / "cams" / "2007_000032.npy", cam_dict)
    samcam_masks.write(tmp_path / "masks" / "2007_000032", masks)
    run = samcam_cli(good_site, "adapt", "--no-progress", "--method", "toymethod", "--rule", "toyrule",
                     "--rule-param", "share=0.55", "--cams", "cams", "--masks", "masks", "--out", "refined",
                     cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    expected = toyrule_restated(toy_own_label(cam_dict), masks, share=0.55)
    np.testing.assert_array_equal(read_label_png(tmp_path / "refined" / "2007_000032.png"), expected)
    settings = provenance.read(tmp_path / "refined")["settings"]
    assert settings["method"] == "toymethod" and settings["refine"]["rule"] == "toyrule"


def test_broken_rules_are_named_and_a_bad_decision_fails_per_image(broken_site, tmp_path):
    listing = samcam_cli(broken_site, "refine", "--rule", cwd=tmp_path)
    assert listing.returncode == 0, listing.stderr
    assert "official     NOT USABLE" in listing.stdout and "built-in name 'official'" in listing.stdout
    assert "notarule     NOT USABLE" in listing.stdout and "int" in listing.stdout
    assert "samcam       counts every mask" in listing.stdout  # the default rule is untouched
    refine_dataset(tmp_path, count=2)
    clash = samcam_cli(broken_site, "refine", "--no-progress", "--rule", "official", "--pseudo", "pseudo",
                       "--masks", "masks", "--out", "o", cwd=tmp_path)
    assert clash.returncode == 2 and "cannot be replaced" in clash.stderr
    nonsense = samcam_cli(broken_site, "refine", "--no-progress", "--rule", "nonsense", "--pseudo", "pseudo",
                          "--masks", "masks", "--out", "n", cwd=tmp_path)
    assert nonsense.returncode == 1
    assert "rule 'nonsense' returned a bad result: assigned holds [99]" in nonsense.stderr
    assert not list((tmp_path / "n").glob("*.png"))
    default = samcam_cli(broken_site, "refine", "--no-progress", "--pseudo", "pseudo", "--masks", "masks",
                         "--out", "d", cwd=tmp_path)
    assert default.returncode == 0, default.stderr


def test_rules_from_python(good_site, monkeypatch):
    from samcam.refine import available_rules, refresh_rules, rule_origin

    monkeypatch.syspath_prepend(str(good_site))
    refresh_rules()
    try:
        assert "toyrule" in available_rules() and rule_origin("toyrule").startswith("samcam-test-plugins 0.1.0")
        cam_dict, masks = toy_scene(2)
        label = toy_own_label(cam_dict)
        np.testing.assert_array_equal(samcam.refine(label, masks, rule="toyrule", share=0.7),
                                      toyrule_restated(label, masks, share=0.7))
    finally:
        monkeypatch.undo()
        refresh_rules()
    assert "toyrule" not in available_rules()


def majority_restated(label, masks, predicted_iou, share=0.6, min_iou=0.0):
    """examples/plugin's majority rule, restated per mask and pixel."""
    used = []
    for k, mask in enumerate(masks):
        values = label[mask]
        known = values[values != 255]
        if known.size == 0 or predicted_iou[k] < min_iou:
            continue
        classes, counts = np.unique(known, return_counts=True)
        if counts.max() > share * known.size:
            used.append((-float(predicted_iou[k]), k, int(classes[np.argmax(counts)])))
    out = label.copy()
    painted = np.zeros(label.shape, bool)
    for _, k, cls in sorted(used):
        out[masks[k] & ~painted] = cls
        painted |= masks[k]
    return out


def test_the_example_rule_works_as_its_readme_says(example_site, tmp_path):
    listing = samcam_cli(example_site, "refine", "--rule", cwd=tmp_path)
    assert "majority" in listing.stdout and "plug-in from samcam-mycam 0.1.0" in listing.stdout
    (tmp_path / "pseudo").mkdir(), (tmp_path / "masks").mkdir()
    expected = {}
    for seed in range(3):
        cam_dict, masks = toy_scene(seed)
        label = toy_own_label(cam_dict)
        iou = np.random.default_rng(seed).uniform(0.85, 1.0, len(masks)).astype(np.float32)
        write_label_png(tmp_path / "pseudo" / f"img{seed}.png", label)
        samcam_masks.write(tmp_path / "masks" / f"img{seed}", masks, scores={"predicted_iou": iou})
        expected[f"img{seed}"] = majority_restated(label, masks, iou, share=0.7, min_iou=0.9)
    run = samcam_cli(example_site, "refine", "--no-progress", "--rule", "majority", "--rule-param", "share=0.7",
                     "--rule-param", "min_iou=0.9", "--pseudo", "pseudo", "--masks", "masks", "--out", "refined",
                     cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    for name, labels in expected.items():
        np.testing.assert_array_equal(read_label_png(tmp_path / "refined" / f"{name}.png"), labels)
