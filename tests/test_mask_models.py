"""Every mask model family end to end on the CPU, with tiny random-weight models built by
each family's own code (tests/tiny_models.py): `samcam masks --checkpoint` writes
exactly the masks of the family's own automatic mask generator; the registry, the
defaults, the family detection and the errors are checked against the packages."""
from __future__ import annotations

import importlib
import inspect
import warnings
from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="mask models need torch ([sam] extra)")

from PIL import Image  # noqa: E402

from samcam import masks as mask_store  # noqa: E402
from samcam.cli import main  # noqa: E402
from samcam.sam import families, registry, shapes  # noqa: E402
from samcam.sam.generate import annotations_to_maskset  # noqa: E402
from samcam.sam.settings import Sam2Settings, SamSettings, default_settings, settings_for  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
PACKAGES = {"sam": "segment_anything", "sam2.1": "sam2", "hq": "segment_anything_hq", "mobilesam": "mobile_sam"}
SHAPES = {"img_a": (48, 60), "img_b": (37, 29)}
# Few points and box NMS off, so every mask that passes the thresholds is kept and
# compared. The TinyViT families decode at SAM's full 256-d width (their encoder code
# fixes it), Light HQ-SAM with extra full-resolution convolutions per point: fewer points.
POINTS = {"sam2.1": 4, "hq": 4, "light_hq": 2, "mobilesam": 3}
CLI = ["--points-per-side", "4", "--box-nms-thresh", "1.0", "--device", "cpu", "--no-progress"]


def need(family: str):
    """The family's package, or a skip saying which extra installs it."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pytest.importorskip(PACKAGES[family],
                                   reason=f"{registry.FAMILIES[family].title} needs the "
                                          f"[{registry.FAMILIES[family].extra}] extra")


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny ops: intra-op threads only slow them down on 2 cores
    yield
    torch.set_num_threads(threads)


def _image(shape, seed):
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 256, shape + (3,), dtype=np.uint8)
    h, w = shape
    image[h // 4: h // 2, w // 3: w // 2] = (200, 30, 30)
    return image


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    folder = tmp_path_factory.mktemp("images")
    for seed, (name, shape) in enumerate(SHAPES.items()):
        Image.fromarray(_image(shape, seed)).save(folder / f"{name}.png")
    return folder


class Tiny:
    """A tiny model of one family: its network, checkpoint, extra CLI flags, own generator."""

    def __init__(self, kind: str, folder: Path):
        import tiny_models

        self.kind = kind
        self.kwargs = dict(points_per_side=POINTS[kind], box_nms_thresh=1.0)
        self.cli = ["--points-per-side", str(POINTS[kind])] + CLI[2:]
        self.flags = []
        if kind == "sam2.1":
            need("sam2.1")
            self.family = "sam2.1"
            self.network, yaml_text = tiny_models.tiny_sam2()
            config = folder / "tiny_sam2.yaml"
            config.write_text(yaml_text)
            self.flags = ["--config", str(config)]
            self.checkpoint = tiny_models.save(self.network, folder / "tiny_sam2.pt", wrap=True)
        else:
            self.family = "mobilesam" if kind == "mobilesam" else "hq"
            need(self.family)
            builder = {"hq": tiny_models.tiny_hq, "light_hq": tiny_models.tiny_light_hq,
                       "mobilesam": tiny_models.tiny_mobile_sam}[kind]
            self.network = builder()
            self.checkpoint = tiny_models.save(self.network, folder / f"tiny_{kind}.pth")

    def official(self, image, **kwargs):
        """The family's own generator on the reference network -> MaskSet."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if self.family == "sam2.1":
                from sam2.automatic_mask_generator import SAM2AutomaticMaskGenerator as Generator
            else:
                Generator = importlib.import_module(PACKAGES[self.family]).SamAutomaticMaskGenerator
        generator = Generator(self.network, output_mode="binary_mask", **kwargs)
        return annotations_to_maskset(generator.generate(image), image.shape[:2])


KINDS = ["sam2.1", "hq", "light_hq", "mobilesam"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny")
    cache = {}

    def get(kind):
        if kind not in cache:
            cache[kind] = Tiny(kind, folder)
        return cache[kind]

    return get


def assert_same(actual, expected, exact: bool, where: str):
    assert actual.image_shape == expected.image_shape, where
    assert len(actual) == len(expected), f"{where}: {len(actual)} masks vs {len(expected)}"
    assert np.array_equal(actual.dense, expected.dense), where
    assert sorted(actual.scores) == sorted(expected.scores), where
    for key, value in expected.scores.items():
        if exact or key not in ("predicted_iou", "stability_score"):
            np.testing.assert_array_equal(actual.scores[key], value, err_msg=f"{where} {key}")
        else:  # MobileSAM runs through samcam's faster copy of SAM's generator
            np.testing.assert_allclose(actual.scores[key], value, rtol=1e-5, atol=1e-6, err_msg=f"{where} {key}")


# ----------------------------------------------------------------------- the registry

def test_registry_holds_every_family_and_size():
    sizes = {family: sorted(m.size for m in registry.models_of(family).values()) for family in registry.FAMILIES}
    assert sizes == {
        "sam": ["vit_b", "vit_h", "vit_l"],
        "sam2.1": ["base_plus", "large", "small", "tiny"],
        "hq": ["vit_b", "vit_h", "vit_l", "vit_tiny"],
        "mobilesam": ["vit_t"],
        "sam3": [],  # a Hugging Face folder, not an official file (samcam.sam.sam3_family)
    }
    assert registry.DEFAULT_MODEL == "vit_h" and registry.MODEL_NAMES[:3] == ("vit_h", "vit_l", "vit_b")
    for model in registry.MASK_MODELS.values():
        assert model.sha256 and len(model.sha256) == 64, model.name  # every file has a public record today
        assert model.url.endswith("/" + model.filename)


@pytest.mark.parametrize("family", [family for family in registry.FAMILIES if family != "sam3"])
def test_settings_defaults_are_the_packages_own(family):
    # (SAM 3's thresholds are checked against transformers in tests/test_sam3.py)
    """Our settings classes list exactly the generator's settings, with its defaults."""
    package = need(family)
    if family == "sam2.1":
        generator = importlib.import_module("sam2.automatic_mask_generator").SAM2AutomaticMaskGenerator
    else:
        generator = package.SamAutomaticMaskGenerator
    parameters = inspect.signature(generator.__init__).parameters
    theirs = {name: p.default for name, p in parameters.items()
              if name not in ("self", "model", "point_grids", "output_mode", "kwargs")}
    ours = {f.name: f.default for f in fields(type(default_settings(family)))}
    assert ours == theirs
    assert isinstance(default_settings(family), Sam2Settings if family == "sam2.1" else SamSettings)


def test_settings_for_applies_family_defaults_and_refuses_foreign_settings():
    assert settings_for("sam2.1", {"points_per_side": 8, "use_m2m": None}).pred_iou_thresh == 0.8
    assert settings_for("hq", {"points_per_side": 8}).pred_iou_thresh == 0.88
    assert settings_for("sam2.1", {"use_m2m": True}).use_m2m is True
    with pytest.raises(ValueError, match="--use-m2m: not a setting of the sam family"):
        settings_for("sam", {"use_m2m": True})
    with pytest.raises(ValueError, match="does not fit"):
        settings_for("sam2.1", SamSettings())
    with pytest.raises(ValueError, match="points-per-side"):
        settings_for("mobilesam", {"points_per_side": 0})


def test_help_states_each_familys_defaults(capsys):
    with pytest.raises(SystemExit):
        main(["masks", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "0.88 (SAM, HQ-SAM, MobileSAM), 0.8 (SAM 2.1)" in text
    assert "family's own generator's default" in text
    for name in registry.MODEL_NAMES:
        assert name in text


# ------------------------------------------------------------ what a checkpoint holds

def test_family_detection_reads_keys(tiny):
    import tiny_sam

    assert shapes.detect_family(tiny_sam.tiny_sam().state_dict()) == "sam"
    for kind, family in (("sam2.1", "sam2.1"), ("hq", "hq"), ("light_hq", "hq"), ("mobilesam", "mobilesam")):
        assert shapes.detect_family(tiny(kind).network.state_dict()) == family, kind
    with pytest.raises(ValueError, match="not a SAM-family checkpoint"):
        shapes.detect_family({"image_encoder.x": torch.zeros(1)})


def test_official_architectures_are_recognised():
    """Each official model's state dict (random weights; SAM's ViTs on the meta device)
    is recognised as that model from its shapes alone."""
    need("hq")
    need("mobilesam")
    need("sam2.1")
    from mobile_sam import sam_model_registry as mobile_registry
    from sam2.build_sam import build_sam2
    from segment_anything_hq import sam_model_registry as hq_registry

    from samcam.sam.generate import infer_sam_config

    found = {}
    for name, model in registry.models_of("hq").items():
        if model.size == "vit_tiny":
            state = hq_registry["vit_tiny"]().state_dict()  # TinyViT cannot be built on meta
            found[name] = shapes.match_tinyvit_model(shapes.infer_tinyvit_config(state), "hq").name
        else:
            with torch.device("meta"):
                state = hq_registry[model.size]().state_dict()
            found[name] = infer_sam_config(state, models=registry.models_of("hq"))["model"]
        assert shapes.detect_family(state) == "hq"
    state = mobile_registry["vit_t"]().state_dict()
    assert shapes.detect_family(state) == "mobilesam"
    found["mobile_sam"] = shapes.match_tinyvit_model(shapes.infer_tinyvit_config(state), "mobilesam").name
    for name, model in registry.models_of("sam2.1").items():
        state = build_sam2(model.architecture["config"], None, device="cpu").state_dict()
        assert shapes.detect_family(state) == "sam2.1" and not shapes.is_sam2_0(state)
        found[name] = shapes.match_sam2_model(state).name
    assert found == {name: name for name in found}
    assert len(found) == 9


def test_official_sizes_build_from_their_weights():
    """The light official models (random weights, real sizes) rebuild from their state
    dicts as themselves, every tensor loaded (strictly) into the right place."""
    need("sam2.1")
    need("hq")
    need("mobilesam")
    from mobile_sam import sam_model_registry as mobile_registry
    from sam2.build_sam import build_sam2
    from segment_anything_hq import sam_model_registry as hq_registry

    torch.manual_seed(0)
    originals = {
        "sam2.1_hiera_tiny": build_sam2("configs/sam2.1/sam2.1_hiera_t.yaml", None, device="cpu"),
        "mobile_sam": mobile_registry["vit_t"](),
        "sam_hq_vit_tiny": hq_registry["vit_tiny"](),
    }
    for name, original in originals.items():
        state = original.state_dict()
        family = shapes.detect_family(state)
        network, found = families.build_network(family, state, f"{name}.pt", model=name)
        assert found == name and family == registry.MASK_MODELS[name].family
        rebuilt = network.state_dict()
        assert rebuilt.keys() == state.keys()
        assert all(torch.equal(rebuilt[key], value) for key, value in state.items()), name


# ------------------------------------------------------- same masks as the family's own

@pytest.mark.parametrize("kind", KINDS)
def test_command_writes_the_familys_own_masks(kind, tiny, images, tmp_path, capsys):
    model = tiny(kind)
    out = tmp_path / "masks"
    code = main(["masks", "--images", str(images), "--out", str(out), "--checkpoint", str(model.checkpoint)]
                + model.flags + model.cli)
    err = capsys.readouterr().err
    assert code == 0, err
    assert "2 written" in err and registry.FAMILIES[model.family].title in err
    total = 0
    for seed, (name, shape) in enumerate(SHAPES.items()):
        stored = mask_store.load(out / f"{name}.masks.npz")
        expected = model.official(_image(shape, seed), **model.kwargs)
        assert_same(stored, expected, exact=model.family != "mobilesam", where=f"{kind} {name}")
        total += len(expected)
    assert total > 0, "the tiny model should keep some masks"
    # Resumable like every family: a rerun writes nothing.
    assert main(["masks", "--images", str(images), "--out", str(out), "--checkpoint", str(model.checkpoint)]
                + model.flags + model.cli) == 0
    assert "0 written, 2 already done" in capsys.readouterr().err


@pytest.mark.parametrize("kind", KINDS)
def test_defaults_are_the_familys_and_thresholds_filter(kind, tiny):
    """Without settings, the family's own defaults (SAM 2.1: pred_iou_thresh 0.8)."""
    model = tiny(kind)
    generator = families.load_generator(checkpoint=model.checkpoint, config=model.flags[1] if model.flags else None,
                                        device="cpu", settings=model.kwargs)
    image = _image((48, 60), 0)
    ours = generator.generate(generator.prepare(image))
    expected = model.official(image, **model.kwargs)  # the generator's own defaults otherwise
    assert_same(ours, expected, exact=model.family != "mobilesam", where=kind)
    loose = model.official(image, pred_iou_thresh=0.0, stability_score_thresh=0.0, **model.kwargs)
    assert 0 < len(ours) < len(loose), "the tiny model's masks should straddle the default thresholds"
    if model.family == "sam2.1":
        sam_threshold = model.official(image, pred_iou_thresh=0.88, **model.kwargs)
        assert len(sam_threshold) < len(ours), "SAM 2's 0.8 keeps masks SAM's 0.88 would drop"


def test_sam2_one_step_refinement_is_sam2s(tiny, images, tmp_path):
    model = tiny("sam2.1")
    out = tmp_path / "m2m"
    assert main(["masks", "--images", str(images), "--out", str(out), "--checkpoint", str(model.checkpoint),
                 "--use-m2m"] + model.flags + model.cli) == 0
    changed = False
    for seed, (name, shape) in enumerate(SHAPES.items()):
        expected = model.official(_image(shape, seed), use_m2m=True, **model.kwargs)
        plain = model.official(_image(shape, seed), **model.kwargs)
        stored = mask_store.load(out / f"{name}.masks.npz")
        assert_same(stored, expected, exact=True, where=name)
        changed |= len(stored) != len(plain) or not np.array_equal(stored.scores["predicted_iou"],
                                                                    plain.scores["predicted_iou"])
    assert changed, "--use-m2m should change SAM 2's masks"


@pytest.mark.parametrize("kind,dtype", [("sam2.1", "bfloat16"), ("mobilesam", "bfloat16"), ("hq", "tf32")])
def test_other_dtypes_run_and_keep_the_format(kind, dtype, tiny):
    model = tiny(kind)
    generator = families.load_generator(checkpoint=model.checkpoint, config=model.flags[1] if model.flags else None,
                                        device="cpu", settings=model.kwargs, dtype=dtype)
    result = generator.generate(generator.prepare(_image((48, 60), 0)))
    assert result.image_shape == (48, 60) and result.scores["predicted_iou"].dtype == np.float32
    if dtype == "tf32":  # no TF32 on a CPU: float32's masks
        assert_same(result, model.official(_image((48, 60), 0), **model.kwargs), exact=True, where=kind)


# ------------------------------------------------------------------------------ errors

def test_wrong_model_for_the_file_is_refused(tiny, images, tmp_path, capsys):
    import tiny_sam

    plain = tiny_sam.save_tiny_checkpoint(tmp_path / "plain_sam.pth")
    cases = [
        (tiny("sam2.1").checkpoint, "sam_hq_vit_b", "holds a SAM 2.1 checkpoint, not sam_hq_vit_b"),
        (tiny("hq").checkpoint, "vit_b", "holds a HQ-SAM checkpoint, not vit_b"),
        (plain, "sam_hq_vit_b", "holds a SAM checkpoint, not sam_hq_vit_b"),  # no silently random HQ layers
        (tiny("hq").checkpoint, "sam_hq_vit_b", "not sam_hq_vit_b"),
        (tiny("mobilesam").checkpoint, "mobile_sam", "not mobile_sam"),
    ]
    for checkpoint, model, message in cases:
        code = main(["masks", "--images", str(images), "--out", str(tmp_path / "out"), "--checkpoint",
                     str(checkpoint), "--model", model] + CLI)
        err = capsys.readouterr().err
        assert code == 2 and message in err, (model, err)


def test_sam2_checkpoints_outside_the_official_sizes_need_their_config(tiny, tmp_path):
    model = tiny("sam2.1")
    with pytest.raises(ValueError, match="none of the official SAM 2.1 sizes; pass the config"):
        families.load_generator(checkpoint=model.checkpoint, device="cpu")
    state = {k: v for k, v in model.network.state_dict().items() if k != "no_obj_embed_spatial"}
    old = tmp_path / "sam2_0.pt"
    torch.save({"model": state}, old)
    with pytest.raises(ValueError, match="SAM 2.0 weights.*configs/sam2/sam2_hiera"):
        families.load_generator(checkpoint=old, device="cpu")
    with pytest.raises(ValueError, match="not a config name inside the sam2 package"):
        families.load_generator(checkpoint=model.checkpoint, config=str(tmp_path / "nope.yaml"), device="cpu")
    with pytest.raises(ValueError, match="--config is for SAM 2 checkpoints"):
        families.load_generator(checkpoint=tiny("hq").checkpoint, config=model.flags[1], device="cpu")


@pytest.mark.parametrize("name", registry.MODEL_NAMES)
def test_offline_error_names_file_url_and_hash(name, images, tmp_path, monkeypatch, capsys):
    need(registry.MASK_MODELS[name].family)
    monkeypatch.setenv("SAMCAM_CACHE", str(tmp_path / "cache"))
    code = main(["masks", "--images", str(images), "--out", str(tmp_path / "out"), "--model", name,
                 "--no-download"] + CLI)
    err = capsys.readouterr().err
    info = registry.MASK_MODELS[name]
    assert code == 2
    assert info.filename in err and info.url in err and info.sha256 in err and str(tmp_path / "cache") in err


def test_missing_package_says_which_extra(monkeypatch, images, tmp_path, capsys):
    from samcam.sam import packages

    real = packages._importable
    monkeypatch.setattr(packages, "_importable", lambda module: module != "sam2" and real(module))
    code = main(["masks", "--images", str(images), "--out", str(tmp_path / "out"),
                 "--model", "sam2.1_hiera_tiny"] + CLI)
    err = capsys.readouterr().err
    assert code == 2 and "samcam[sam2]" in err and "--no-build-isolation" in err and "sam2" in err
    assert not (tmp_path / "out").exists()


def test_settings_the_family_lacks_are_refused_before_loading(images, tmp_path, capsys):
    code = main(["masks", "--images", str(images), "--out", str(tmp_path / "out"), "--model", "vit_b",
                 "--use-m2m"] + CLI)
    assert code == 2 and "--use-m2m: not a setting of the sam family" in capsys.readouterr().err
    code = main(["masks", "--images", str(images), "--out", str(tmp_path / "out"), "--model", "vit_b",
                 "--points-per-side", "0", "--device", "cpu"])
    assert code == 2 and "--points-per-side must be >= 1" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_hq_refuses_bfloat16(tiny):
    with pytest.raises(ValueError, match="bfloat16 is not available for HQ-SAM"):
        families.load_generator(checkpoint=tiny("hq").checkpoint, device="cpu", dtype="bfloat16")


def test_sam2s_training_package_does_not_collide_with_ours():
    """sam2's wheel installs a top-level `training` package: nothing of ours is named so."""
    need("sam2.1")
    import sam2

    spec = importlib.util.find_spec("training")
    assert spec is not None and Path(spec.origin).parent.parent == Path(sam2.__file__).parent.parent
    for root in (REPO, REPO / "tests", REPO / "samcam", REPO / "adapters", REPO / "benchmarks", REPO / "tools"):
        assert not (root / "training").exists() and not (root / "training.py").exists(), root
    setup = (REPO / "setup.py").read_text()
    assert 'include=["samcam", "samcam.*"]' in setup  # only our own packages are installed
