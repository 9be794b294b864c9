"""``samcam refine`` (samcam.cli.refine): what the API computes, resume/overwrite/workers,
bad images, input folders refused, palette output, and the run's summary."""
import numpy as np
import pytest
from PIL import Image

import samcam
from samcam import masks as store
from samcam.cli import main
from samcam.demo.synthetic import cam_to_label, make_scene
from samcam.io import read_label_png, write_label_png


@pytest.fixture
def dataset(tmp_path):
    rng = np.random.default_rng(0)
    names = [f"2007_{i:06d}" for i in range(6)]
    labels, maskss = {}, {}
    for name in names:
        scene = make_scene(rng, 48, 64)
        labels[name] = cam_to_label(scene.cam)
        maskss[name] = scene.masks
        write_label_png(tmp_path / "pseudo" / f"{name}.png", labels[name])
        store.write(tmp_path / "masks" / name, scene.masks)
    return tmp_path, names, labels, maskss


def run(tmp_path, *extra):
    return main(["refine", "--pseudo", str(tmp_path / "pseudo"), "--masks", str(tmp_path / "masks"),
                 "--out", str(tmp_path / "out"), "--no-progress", *extra])


def test_refine_cli_writes_what_the_api_computes(dataset):
    tmp_path, names, labels, maskss = dataset
    assert run(tmp_path, "--rule", "official") == 0
    for name in names:
        with Image.open(tmp_path / "out" / f"{name}.png") as image:
            assert image.mode == "L"
        expected = samcam.refine(labels[name], maskss[name], rule="official")
        assert np.array_equal(read_label_png(tmp_path / "out" / f"{name}.png"), expected)
    assert not list((tmp_path / "out").glob("*.tmp"))


@pytest.mark.slow
def test_resume_overwrite_and_workers_give_identical_results(dataset, capsys):
    tmp_path, names, labels, maskss = dataset
    (tmp_path / "list.txt").write_text("\n".join(names[:3]) + "\n")
    assert run(tmp_path, "--list", str(tmp_path / "list.txt")) == 0
    assert sorted(p.stem for p in (tmp_path / "out").glob("*.png")) == names[:3]
    assert sorted(p.name for p in (tmp_path / "out").iterdir() if p.suffix != ".png") == ["samcam.json"]
    stamp = (tmp_path / "out" / f"{names[0]}.png").stat().st_mtime_ns
    capsys.readouterr()
    assert run(tmp_path) == 0
    assert "3 written, 3 already done" in capsys.readouterr().err
    assert (tmp_path / "out" / f"{names[0]}.png").stat().st_mtime_ns == stamp
    serial = {n: read_label_png(tmp_path / "out" / f"{n}.png") for n in names}
    assert run(tmp_path, "--overwrite", "--workers", "2") == 0
    for name in names:
        assert np.array_equal(read_label_png(tmp_path / "out" / f"{name}.png"), serial[name])
        assert np.array_equal(serial[name], samcam.refine(labels[name], maskss[name]))


def test_bad_images_are_reported_and_the_others_finish(dataset, capsys):
    tmp_path, names, labels, maskss = dataset
    (tmp_path / "masks" / f"{names[1]}.masks.npz").unlink()                      # no masks
    store.write(tmp_path / "masks" / names[2], np.zeros((2, 5, 5), bool))       # wrong size
    (tmp_path / "pseudo" / f"{names[3]}.png").write_bytes(b"garbage")            # corrupt PNG
    write_label_png(tmp_path / "pseudo" / f"{names[4]}.png", np.full((48, 64), 99, np.uint8))  # bad values
    assert run(tmp_path) == 1
    err = capsys.readouterr().err
    assert "2 written" in err and "4 failed" in err
    assert f"no masks for '{names[1]}'" in err
    assert "masks are 5×5 but the label is 48×64" in err
    assert f"{names[3]}.png" in err
    assert "outside 0..20" in err
    assert sorted(p.stem for p in (tmp_path / "out").glob("*.png")) == [names[0], names[5]]


def test_refuses_to_write_into_an_input_folder(dataset, capsys):
    tmp_path, names, _, _ = dataset
    code = main(["refine", "--pseudo", str(tmp_path / "pseudo"), "--masks", str(tmp_path / "masks"),
                 "--out", str(tmp_path / "pseudo" / "refined")])
    assert code == 2
    assert "never writes into its inputs" in capsys.readouterr().err


def test_palette_output_and_help(dataset, capsys):
    tmp_path, names, _, _ = dataset
    assert run(tmp_path, "--palette") == 0
    with Image.open(tmp_path / "out" / f"{names[0]}.png") as image:
        assert image.mode == "P"
    with pytest.raises(SystemExit):
        main(["refine", "--help"])
    help_text = capsys.readouterr().out
    for flag in ("--labels", "--masks", "--out", "--list", "--rule", "--workers", "--overwrite"):
        assert flag in help_text
    assert "--pseudo" not in help_text  # the old spelling still works (run() uses it) but is not shown


def test_a_run_ends_with_what_it_changed_and_names_only_non_default_parameters(dataset, capsys):
    """Without ground truth (train_aug), the summary is all a user sees of the refinement."""
    import statistics

    from samcam.refine import refine_counted
    tmp_path, names, labels, maskss = dataset
    assert run(tmp_path, "--conflict", "ratio") == 0
    err = capsys.readouterr().err
    assert "rule samcam (conflict='ratio'); recorded in" in err  # not all 14 parameters
    changed = pixels = 0
    used = []
    for name in names:
        refined, count = refine_counted(labels[name], maskss[name], conflict="ratio")
        changed += int((refined != labels[name]).sum())
        pixels += refined.size
        used.append(count)
        assert isinstance(count, int)  # the samcam rule says how many masks it used
    images = sum(int((refine_counted(labels[n], maskss[n], conflict="ratio")[0] != labels[n]).any()) for n in names)
    assert (f"{images} of {len(names)} images changed, {100 * changed / pixels:.2f}% of their pixels; "
            f"median {statistics.median(used):g} masks used per image") in err
    assert main(["refine", "--pseudo", str(tmp_path / "pseudo"), "--masks", str(tmp_path / "masks"),
                 "--out", str(tmp_path / "official"), "--no-progress", "--rule", "official"]) == 0
    err = capsys.readouterr().err
    assert "rule official (defaults)" in err and "masks used" not in err  # the official rule says no such thing



def test_too_few_classes_are_refused_before_any_label_is_written(dataset, capsys):
    """--num-classes 20 on VOC labels used to write the images whose classes fit, then fail the rest."""
    tmp_path, names, labels, maskss = dataset
    top = max(int(label[label != 255].max(initial=0)) for label in labels.values())
    assert run(tmp_path, "--num-classes", str(top)) == 2
    err = capsys.readouterr().err
    assert f"num_classes (--num-classes) is {top}, but " in err and "pass --num-classes 21 (VOC" in err
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").glob("*.png"))
    assert run(tmp_path, "--num-classes", str(top + 1)) == 0


@pytest.mark.parametrize("flags, says", [
    (["--ratio-thresh", "nan"], "argument --ratio-thresh: must be a finite number, got nan"),
    (["--ratio-thresh", "-5"], "argument --ratio-thresh: must lie in [0, 1], got -5.0"),
    (["--cover-thresh", "inf"], "argument --cover-thresh: must be a finite number, got inf"),
    (["--rule-param", "min_evidence=[1]"], "min_evidence must be a number, got [1]"),
    (["--rule-param", "min_area='x'"], "min_area must be an integer, got 'x'"),
])
def test_rule_settings_out_of_range_are_one_line_and_nothing_is_written(dataset, capsys, flags, says):
    """They used to exit 0 with other labels (nan, -5, inf, [1]) or a TypeError traceback ('x')."""
    tmp_path = dataset[0]
    try:
        code = run(tmp_path, *flags)
    except SystemExit as stop:  # a flag's own type refuses it while parsing
        code = stop.code
    assert code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and says in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_conflict_score_refuses_nan_or_misshapen_predicted_iou(dataset):
    """NaN or wrong-shape scores used to be accepted with conflict='score'."""
    tmp_path, names, labels, maskss = dataset
    dense = np.asarray(maskss[names[0]])
    for scores, says in ((np.full(len(dense), np.nan), "NaN or infinite"),
                         (np.zeros((len(dense), 2)), "one number per mask")):
        with_scores = store.MaskSet.from_dense(dense, scores={"predicted_iou": scores})
        with pytest.raises(ValueError, match=says):
            samcam.refine(labels[names[0]], with_scores, conflict="score")
    scored = store.MaskSet.from_dense(dense, scores={"predicted_iou": np.linspace(0, 1, len(dense))})
    assert samcam.refine(labels[names[0]], scored, conflict="score").shape == labels[names[0]].shape
