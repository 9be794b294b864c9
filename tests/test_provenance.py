"""samcam.json (samcam.provenance): what `samcam refine`, `samcam adapt`, `samcam masks`
and their Python forms record, what they refuse, and hostile records read as one line."""
import json
from pathlib import Path

import numpy as np
import pytest
from cli_calls import TWO_NAMES, exit_and_err, four_scene_folder, one_line, two_image_folder
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

import samcam
from samcam import masks as store
from samcam.adapters.run import adapt_dir
from samcam.cli import main
from samcam.demo.synthetic import make_scene
from samcam.folders import refine_dir
from samcam.images import write_label_png
from samcam.io import list_names
from samcam.locks import LOCK_FILE
from samcam.provenance import FORMAT, LABELS, MAX_RECORD_BYTES, PROVENANCE_FILE, RunInfo, claim, read
from samcam.refine import rule_parameters


@pytest.fixture
def dataset(tmp_path):
    return four_scene_folder(tmp_path)


def refine_cli(tmp_path, *extra):
    return main(["refine", "--pseudo", str(tmp_path / "pseudo"), "--masks", str(tmp_path / "masks"),
                 "--out", str(tmp_path / "out"), "--no-progress", *extra])


def test_refine_records_rule_every_parameter_inputs_and_command(dataset):
    tmp_path, names = dataset
    (tmp_path / "list.txt").write_text("\n".join(names) + "\n")
    assert refine_cli(tmp_path, "--list", str(tmp_path / "list.txt"), "--conflict", "score") == 0
    record = json.loads((tmp_path / "out" / PROVENANCE_FILE).read_text())
    assert record["format"] == FORMAT and record["samcam_version"] == samcam.__version__
    settings = record["settings"]
    assert settings["tool"] == "refine"
    assert settings["refine"] == rule_parameters(rule="samcam", conflict="score")  # defaults filled in
    assert settings["refine"]["cover_min_ratio"] == 0.3 and settings["refine"]["core_rescue"] is True
    assert settings["inputs"] == {"pseudo_labels": str((tmp_path / "pseudo").resolve()),
                                  "masks": str((tmp_path / "masks").resolve())}
    assert settings["mask_order"] == "numeric" and settings["palette"] is False
    assert record["masks"]["formats"] == ["samcam mask store (.masks.npz)"]
    (run,) = record["runs"]
    assert run["command"][:2] == ["samcam", "refine"] and "--conflict" in run["command"]
    assert run["list"] == str((tmp_path / "list.txt").resolve()) and run["names"] == len(names)
    assert record["created"] == record["updated"] == run["date"] and run["date"].endswith("+00:00")
    # never a label: readers list *.png
    assert list_names(tmp_path / "out", (".png",)) == names
    assert not list((tmp_path / "out").glob("*.tmp"))


def test_resume_with_the_same_settings_appends_a_run(dataset):
    tmp_path, names = dataset
    assert refine_dir(tmp_path / "pseudo", tmp_path / "masks", tmp_path / "out", names[:2]).ok
    first = read(tmp_path / "out")
    assert first["runs"][0]["command"] is None  # from Python
    assert refine_cli(tmp_path) == 0            # resume: the rest, same settings
    second = read(tmp_path / "out")
    assert second["settings"] == first["settings"] and second["created"] == first["created"]
    assert [run["names"] for run in second["runs"]] == [2, 4]


def test_other_settings_into_a_folder_of_labels_are_refused(dataset, capsys):
    tmp_path, names = dataset
    assert refine_cli(tmp_path) == 0
    before = {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir()}
    capsys.readouterr()
    assert refine_cli(tmp_path, "--rule", "official") == 2
    err = capsys.readouterr().err
    assert "refusing to mix labels from two settings" in err
    assert "refine.rule: 'samcam' there, 'official' now" in err and "--overwrite" in err
    assert {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir()} == before  # nothing touched
    with pytest.raises(ValueError, match="cover_min_ratio: 0.3 there, 0.2 now"):
        refine_dir(tmp_path / "pseudo", tmp_path / "masks", tmp_path / "out", cover_min_ratio=0.2)
    # with --overwrite every label is redone under the new settings
    assert refine_cli(tmp_path, "--rule", "official", "--overwrite") == 0
    assert read(tmp_path / "out")["settings"]["refine"]["rule"] == "official"
    assert len(read(tmp_path / "out")["runs"]) == 1


def test_overwrite_is_refused_when_labels_would_stay_from_the_old_settings(dataset, capsys):
    tmp_path, names = dataset
    assert refine_cli(tmp_path) == 0
    (tmp_path / "two.txt").write_text("\n".join(names[:2]) + "\n")
    capsys.readouterr()
    assert refine_cli(tmp_path, "--rule", "official", "--overwrite", "--list", str(tmp_path / "two.txt")) == 2
    err = capsys.readouterr().err
    assert "2 of those labels are not among this run's names" in err and names[2] in err


def test_labels_without_samcam_json_are_not_resumed_silently(dataset, capsys):
    tmp_path, names = dataset
    write_label_png(tmp_path / "out" / f"{names[0]}.png", np.zeros((40, 56), np.uint8))  # from elsewhere
    assert refine_cli(tmp_path) == 2
    assert "have no samcam.json" in capsys.readouterr().err
    assert not (tmp_path / "out" / PROVENANCE_FILE).exists()
    assert refine_cli(tmp_path, "--overwrite") == 0
    assert read(tmp_path / "out")["runs"][0]["overwrite"] is True


def test_a_broken_samcam_json_is_reported(dataset, capsys):
    tmp_path, _ = dataset
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / PROVENANCE_FILE).write_text("{not json")
    assert refine_cli(tmp_path) == 2
    assert "samcam.json: unreadable" in capsys.readouterr().err


def test_adapt_records_method_source_threshold_and_rule(tmp_path):
    rng = np.random.default_rng(0)
    (tmp_path / "cams").mkdir()
    for name in ("a", "b"):
        scene = make_scene(rng, 40, 56)
        np.save(tmp_path / "cams" / f"{name}.npy", scene.cam, allow_pickle=True)
        store.write(tmp_path / "masks" / name, scene.masks)
    result = adapt_dir("irn", tmp_path / "masks", tmp_path / "out", cams_dir=tmp_path / "cams",
                       refine_params={"rule": "samcam", "conflict": "ratio"})
    assert result.ok
    settings = read(tmp_path / "out")["settings"]
    assert settings["tool"] == "adapt" and settings["method"] == "irn" and settings["source"] == "cam"
    assert settings["threshold"] is None and settings["method_thresholds"] == [0.15]
    assert settings["use_scores"] is False
    assert settings["refine"] == rule_parameters(rule="samcam", conflict="ratio")
    assert settings["inputs"]["cams"] == str((tmp_path / "cams").resolve())
    with pytest.raises(ValueError, match="threshold: None there, 0.3 now"):
        adapt_dir("irn", tmp_path / "masks", tmp_path / "out", cams_dir=tmp_path / "cams", threshold=0.3,
                  refine_params={"rule": "samcam", "conflict": "ratio"})


def test_rule_parameters_fill_defaults_and_refuse_unknown_names():
    params = rule_parameters()
    assert params["rule"] == "samcam" and params["conflict"] == "smaller" and params["core_rescue"] is True
    assert set(rule_parameters(rule="official")) == {"rule", "num_classes", "ignore_index", "ratio_thresh",
                                                     "cover_thresh"}
    with pytest.raises(ValueError, match="unknown refine parameter"):
        rule_parameters(ratio=0.5)
    with pytest.raises(ValueError, match="unknown rule"):
        rule_parameters(rule="paper")


def test_a_provenance_record_in_a_mask_folder_is_not_a_mask_name(dataset):
    tmp_path, names = dataset
    assert refine_cli(tmp_path) == 0
    (tmp_path / "masks" / PROVENANCE_FILE).write_bytes((tmp_path / "out" / PROVENANCE_FILE).read_bytes())
    assert store.names_in(tmp_path / "masks") == names
    assert main(["refine", "--pseudo", str(tmp_path / "pseudo"), "--masks", str(tmp_path / "masks"),
                 "--out", str(tmp_path / "out2"), "--no-progress"]) == 0
    # and describing that mask folder embeds its record
    assert read(tmp_path / "out2")["masks"]["provenance"]["format"] == FORMAT


# --------------------------------------------------------------- mask folders (samcam masks)

def _images(tmp_path, names):
    rng = np.random.default_rng(5)
    for name in names:
        (tmp_path / "images").mkdir(exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (40, 56, 3), np.uint8)).save(tmp_path / "images" / f"{name}.png")


def test_masks_records_its_source_and_refine_copies_it(dataset, capsys):
    tmp_path, names = dataset
    _images(tmp_path, names)
    masks = tmp_path / "proposal_masks"
    args = ["masks", "--source", "proposals", "--images", str(tmp_path / "images"), "--out", str(masks),
            "--no-progress"]
    assert main(args) == 0
    record = read(masks)
    assert record["settings"] == {"tool": "masks", "source": "proposals"}
    assert record["runs"][0]["images"] == str((tmp_path / "images").resolve())
    assert record["what"].startswith("masks ({name}.masks.npz)") and record["runs"][0]["command"][:2] == \
        ["samcam", "masks"]
    assert main(args) == 0 and len(read(masks)["runs"]) == 2  # a resume is recorded
    # the labels refined with these masks say how the masks were made
    assert main(["refine", "--labels", str(tmp_path / "pseudo"), "--masks", str(masks), "--out",
                 str(tmp_path / "refined"), "--no-progress"]) == 0
    assert read(tmp_path / "refined")["masks"]["provenance"]["settings"]["source"] == "proposals"


def test_masks_keep_stores_an_older_samcam_wrote_without_a_record(dataset, caplog):
    tmp_path, names = dataset
    _images(tmp_path, names)
    before = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "masks").iterdir()}
    assert main(["masks", "--source", "proposals", "--images", str(tmp_path / "images"), "--out",
                 str(tmp_path / "masks"), "--no-progress"]) == 0
    record = read(tmp_path / "masks")
    assert record["unrecorded"] == len(names) and "no samcam.json" in caplog.text
    assert {p.name: p.stat().st_mtime_ns for p in (tmp_path / "masks").iterdir() if p.name != PROVENANCE_FILE} \
        == before  # kept, not redone


def test_masks_resume_from_a_moved_dataset_and_refuse_other_settings(dataset, tmp_path_factory):
    tmp_path, names = dataset
    _images(tmp_path, names)
    out = tmp_path / "m"
    assert main(["masks", "--source", "proposals", "--images", str(tmp_path / "images"), "--out", str(out),
                 "--no-progress", "--list", str(_name_list(tmp_path, names[:2]))]) == 0
    moved = tmp_path_factory.mktemp("elsewhere") / "images"  # the same images, another machine's path
    (tmp_path / "images").rename(moved)
    assert main(["masks", "--source", "proposals", "--images", str(moved), "--out", str(out), "--no-progress"]) == 0
    assert [run["images"] for run in read(out)["runs"]] == [str((tmp_path / "images").resolve()), str(moved.resolve())]
    # what decides the masks differs: refused, naming it (SAM settings, as compute_masks records them)
    from samcam.provenance import MASKS, RunInfo, claim
    from samcam.sam.pipeline import mask_settings

    def sam_settings(**changes):
        given = dict(source="sam", model="vit_h", checkpoint=None, config=None, settings={"points_per_side": 32},
                     dtype=None, fast=None)
        return mask_settings(moved, **{**given, **changes})

    sam_out = tmp_path / "sam"
    claim(sam_out, MASKS, sam_settings(), RunInfo(names)).release()
    for name in names:
        store.write(sam_out / name, np.ones((1, 4, 4), bool))
    # a batch size is not a setting of the masks
    claim(sam_out, MASKS, sam_settings(settings={"points_per_side": 32, "points_per_batch": 256}),
          RunInfo(names)).release()
    for changes, differs in (({"fast": True}, "mode: 'exact' there, 'fast' now"),
                             ({"dtype": "tf32"}, "dtype: 'float32' there, 'tf32' now"),
                             ({"model": "vit_b"}, "model: 'vit_h' there, 'vit_b' now"),
                             ({"settings": {"points_per_side": 16}}, "settings.points_per_side: 32 there, 16 now")):
        with pytest.raises(ValueError, match="refusing to mix mask stores from two settings") as refused:
            claim(sam_out, MASKS, sam_settings(**changes), RunInfo(names))
        assert differs in str(refused.value)


def _name_list(tmp_path, names):
    path = tmp_path / "names.txt"
    path.write_text("\n".join(names) + "\n")
    return path


def test_masks_shards_after_the_first_only_check_the_record(dataset, monkeypatch):
    tmp_path, names = dataset
    _images(tmp_path, names)
    out = tmp_path / "m"
    base = ["masks", "--source", "proposals", "--images", str(tmp_path / "images"), "--out", str(out), "--no-progress"]
    assert main(base + ["--shard", "1/2"]) == 0  # a shard starting the folder records it
    assert read(out)["runs"][0]["names"] == 2
    stamp = (out / PROVENANCE_FILE).stat().st_mtime_ns
    assert main(base + ["--shard", "0/2"]) == 0  # the first shard records its run
    assert len(read(out)["runs"]) == 2 and (out / PROVENANCE_FILE).stat().st_mtime_ns != stamp
    stamp = (out / PROVENANCE_FILE).stat().st_mtime_ns
    assert main(base + ["--shard", "1/2"]) == 0  # another shard leaves it to the first
    assert (out / PROVENANCE_FILE).stat().st_mtime_ns == stamp


def test_masks_into_a_folder_of_refined_labels_are_refused(dataset, capsys):
    tmp_path, names = dataset
    _images(tmp_path, names)
    assert refine_cli(tmp_path) == 0
    record = (tmp_path / "out" / PROVENANCE_FILE).read_bytes()
    capsys.readouterr()
    assert main(["masks", "--source", "proposals", "--images", str(tmp_path / "images"), "--out",
                 str(tmp_path / "out"), "--no-progress"]) == 2
    assert "describes 'refined pseudo labels" in capsys.readouterr().err
    assert (tmp_path / "out" / PROVENANCE_FILE).read_bytes() == record and not store.names_in(tmp_path / "out")


# ------------------------------------------------------------ inputs changed under a folder

def test_a_resume_after_the_masks_were_recomputed_with_another_source_is_refused(dataset, capsys):
    """The labels' record keeps the mask folder's own record: recomputing the masks in place
    with another source (here a tiny SAM after the proposals) makes a resume a refusal that
    names what changed, instead of a folder mixing labels of two mask sources."""
    pytest.importorskip("torch", reason="the second mask source is a (tiny) SAM: pip install 'samcam[sam]'")
    from tiny_sam import tiny_sam

    from samcam.sam.pipeline import compute_masks

    tmp_path, names = dataset
    _images(tmp_path, names)
    masks = tmp_path / "recomputed"
    assert main(["masks", "--source", "proposals", "--images", str(tmp_path / "images"), "--out", str(masks),
                 "--no-progress"]) == 0
    refine = ["refine", "--labels", str(tmp_path / "pseudo"), "--masks", str(masks), "--out", str(tmp_path / "out"),
              "--no-progress"]
    assert main(refine + ["--list", str(_name_list(tmp_path, names[:2]))]) == 0
    assert read(tmp_path / "out")["fingerprint"]["masks"]["record"]["settings"]["source"] == "proposals"
    assert compute_masks(tmp_path / "images", masks, names, sam=tiny_sam(), settings={"points_per_side": 4},
                         overwrite=True).ok  # in place
    before = {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir()}
    capsys.readouterr()
    assert main(refine) == 2
    err = capsys.readouterr().err
    assert "refusing to mix labels from two settings" in err and "the inputs that decide them changed" in err
    assert "masks samcam.json settings.source: 'proposals' there, 'sam' now" in err and "--overwrite" in err
    assert {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir()} == before
    assert main(refine + ["--overwrite"]) == 0  # every label redone from the new masks
    record = read(tmp_path / "out")
    assert record["fingerprint"]["masks"]["record"]["settings"]["source"] == "sam" and len(record["runs"]) == 1


def test_a_resume_after_unrecorded_masks_were_replaced_is_refused(dataset, capsys):
    """A mask folder without samcam.json is fingerprinted by its entries' names, sizes and times."""
    tmp_path, names = dataset
    assert refine_cli(tmp_path, "--list", str(_name_list(tmp_path, names[:2]))) == 0
    fingerprint = read(tmp_path / "out")["fingerprint"]["masks"]
    assert fingerprint["entries"] == len(names) and len(fingerprint["sha256"]) == 64
    assert refine_cli(tmp_path) == 0  # unchanged masks: a resume
    rng = np.random.default_rng(9)
    store.write(tmp_path / "masks" / names[3], rng.random((3, 40, 56)) > 0.5)  # another tool's masks, in place
    capsys.readouterr()
    assert refine_cli(tmp_path, "--list", str(_name_list(tmp_path, names[:3]))) == 2
    err = capsys.readouterr().err
    assert "the inputs that decide them changed since" in err
    assert "masks: 4 entries" in err or "masks: the same count and size, but files were replaced" in err


def test_vis_rerun_with_other_labels_is_refused_not_stale(dataset, capsys):
    """`samcam vis` into a folder of panels drawn from other labels: refused (it used to keep
    the old panels, "0 written, 2 already done", exit 0); --overwrite redraws them."""
    tmp_path, names = dataset
    _images(tmp_path, names)
    assert refine_cli(tmp_path) == 0
    vis = ["vis", "--images", str(tmp_path / "images"), "--out", str(tmp_path / "panels"), "--no-progress"]
    assert main(vis + ["--labels", f"cam={tmp_path / 'pseudo'}"] + names[:2]) == 0
    first = {p.name: p.read_bytes() for p in (tmp_path / "panels").glob("*.png")}
    assert sorted(first) == [f"{n}.png" for n in names[:2]]
    assert read(tmp_path / "panels")["settings"]["tool"] == "vis"
    assert main(vis + ["--labels", f"cam={tmp_path / 'pseudo'}"] + names[:2]) == 0  # same: a resume
    assert "2 already done" in capsys.readouterr().err
    assert main(vis + ["--labels", f"cam={tmp_path / 'out'}"] + names[:2]) == 2
    err = capsys.readouterr().err
    assert "refusing to mix panels from two settings" in err and "inputs.labels cam" in err
    assert {p.name: p.read_bytes() for p in (tmp_path / "panels").glob("*.png")} == first
    assert main(vis + ["--labels", f"cam={tmp_path / 'out'}", "--overwrite"] + names[:2]) == 0
    assert {p.name: p.read_bytes() for p in (tmp_path / "panels").glob("*.png")} != first
    # the same labels folder recomputed in place: its fingerprint changed
    assert refine_cli(tmp_path, "--rule", "official", "--overwrite") == 0
    capsys.readouterr()
    assert main(vis + ["--labels", f"cam={tmp_path / 'out'}"] + names[:2]) == 2
    assert "labels cam samcam.json settings.refine.rule: 'samcam' there, 'official' now" in capsys.readouterr().err


def test_13_a_record_nested_too_deep_to_read_is_one_line_exit_2(refine_data, capsys):
    """Before: RecursionError, printed as an internal error with its traceback (exit 3)."""
    root, _, _ = refine_data
    (root / "out").mkdir()
    (root / "out" / "samcam.json").write_text("[" * 100_000 + "]" * 100_000)
    code, err = exit_and_err(["refine", "--pseudo", str(root / "pseudo"), "--masks", str(root / "masks"),
                               "--out", str(root / "out"), "--no-progress"], capsys)
    assert code == 2
    one_line(err, "samcam refine: error: ")
    assert not list((root / "out").glob("*.png"))


NAMES = TWO_NAMES


DEEP = '{"format": "%s", "settings": {}, "runs": [], "x": %s}' % (FORMAT, "[" * 100_000 + "]" * 100_000)


HOSTILE = {
    "nested 100,000 deep": (DEEP, "nested more than 32 deep"),
    "runs: 7": ('{"format": "%s", "what": "w", "settings": {}, "runs": 7}' % FORMAT, "runs must be a list"),
    "settings: [1, 2]": ('{"format": "%s", "settings": [1, 2], "runs": []}' % FORMAT, "settings must be an object"),
    'settings: "x"': ('{"format": "%s", "settings": "x", "runs": []}' % FORMAT, "settings must be an object"),
    "runs: [1]": ('{"format": "%s", "settings": {}, "runs": [1]}' % FORMAT, "runs must be a list of objects"),
    "settings.refine: 5": ('{"format": "%s", "settings": {"refine": 5}, "runs": []}' % FORMAT,
                           "settings.refine must be an object or null"),
    "masks.formats: [1]": ('{"format": "%s", "settings": {}, "runs": [], "masks": {"formats": [1]}}' % FORMAT,
                           "masks.formats must be a list of text"),
    "no settings": ('{"format": "%s", "runs": []}' % FORMAT, "has no settings"),
    "too large": ('{"format": "%s", "settings": {}, "runs": [], "pad": "%s"}' % (FORMAT, "x" * (MAX_RECORD_BYTES + 1)),
                  "more than a record's 1,048,576"),
    "not UTF-8": (b'{"format": "\xff"}', "UnicodeDecodeError"),
    "a list": ("[]", "not a samcam provenance file"),
}


@pytest.fixture
def data(tmp_path):
    return two_image_folder(tmp_path)


def _write_record(folder: Path, content) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / PROVENANCE_FILE
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return path


def _refine(data, out, masks="masks"):
    return ["refine", "--labels", str(data / "labels"), "--masks", str(data / masks), "--out", str(out),
            "--no-progress"]


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_a_hostile_record_in_the_output_folder_is_one_line(data, capsys, case):
    content, message = HOSTILE[case]
    path = _write_record(data / "out", content)
    assert main(_refine(data, data / "out")) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err[:2000]
    assert f"{path}: " in err and message in err, err[:2000]
    assert not list((data / "out").glob("*.png")) and path.read_bytes() == (
        content if isinstance(content, bytes) else content.encode())
    assert not (data / "out" / LOCK_FILE).exists()  # let go on the way out


def test_a_hostile_record_on_a_masks_resume_is_one_line(data, capsys):
    path = _write_record(data / "m", DEEP)
    assert main(["masks", "--source", "proposals", "--images", str(data / "images"), "--out", str(data / "m"),
                 "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{path}: " in err and "nested more than 32 deep" in err


@pytest.mark.parametrize("case", ["nested 100,000 deep", "runs: 7", "too large"])
def test_a_hostile_record_in_the_masks_folder_is_a_warning_and_the_masks_are_used(data, capsys, case):
    path = _write_record(data / "masks", HOSTILE[case][0])
    assert main(_refine(data, data / "out")) == 0
    err = capsys.readouterr().err
    assert f"{path}: " in err and "described by its files instead" in err and "Traceback" not in err
    assert sorted(p.name for p in (data / "out").glob("*.png")) == ["a.png", "b.png"]
    record = read(data / "out")
    assert "provenance" not in record["masks"] and record["fingerprint"]["masks"]["entries"] == 2


def test_a_hostile_record_of_a_label_set_is_said_on_the_report(data, capsys):
    path = _write_record(data / "labels", DEEP)
    assert main(["eval", "--gt", str(data / "gt"), "--labels", f"cam={data / 'labels'}", "--report",
                 str(data / "report"), "--images", str(data / "images"), "--no-progress"]) == 0
    assert "Traceback" not in capsys.readouterr().err
    page = (data / "report" / "index.html").read_text()
    assert "samcam.json unreadable" in page and "nested more than 32 deep" in page and str(path) in page


def _valid_record():
    return {"format": FORMAT, "what": LABELS.what, "settings": {"tool": "refine", "refine": {"rule": "samcam"},
                                                                "inputs": {"masks": "/m"}},
            "fingerprint": {"masks": {"entries": 2}}, "masks": {"path": "/m", "formats": ["x"]},
            "samcam_version": "1", "created": "d", "updated": "d", "runs": [{"date": "d", "names": 2}]}


_json = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
                     lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
                     max_leaves=12)


@st.composite
def _mutated_records(draw):
    """A valid record with some fields replaced, deleted or deepened, or its bytes edited."""
    record = _valid_record()
    for _ in range(draw(st.integers(1, 4))):
        path = draw(st.sampled_from([("format",), ("settings",), ("runs",), ("masks",), ("fingerprint",),
                                     ("settings", "refine"), ("settings", "inputs"), ("masks", "formats"),
                                     ("runs", 0), ("unrecorded",), ("what",)]))
        parent = record
        for key in path[:-1]:
            parent = parent[key] if isinstance(parent, dict) and key in parent else {}
        if isinstance(parent, dict):
            parent[path[-1]] = draw(_json)
        elif isinstance(parent, list) and parent:
            parent[0] = draw(_json)
    data = json.dumps(record).encode()
    if draw(st.booleans()):
        at = draw(st.integers(0, len(data) - 1))
        data = data[:at] + draw(st.binary(min_size=0, max_size=3)) + data[at + 1:]
    return data


@pytest.mark.slow
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content=_mutated_records())
def test_fuzz_records(tmp_path_factory, content):
    """Whatever a record holds: read() returns a record of the right shape or a ValueError naming
    the file, and claiming the folder is a clean refusal or a new record, never another error."""
    folder = tmp_path_factory.mktemp("record")
    path = _write_record(folder, content)
    try:
        record = read(folder)
    except ValueError as error:
        assert str(path) in str(error)
        return
    assert isinstance(record["settings"], dict) and all(isinstance(run, dict) for run in record["runs"])
    try:
        claim(folder, LABELS, {"tool": "refine"}, RunInfo(["a"])).release()
    except ValueError as error:
        assert str(folder) in str(error)
