"""Fuzz targets for every input samcam reads; run by tests/system/test_fuzz.py, one target per process.

    python tests/support/fuzz_runner.py TARGET [--examples N] [--seed S] [--budget-mb M] [--stats FILE] [--last DIR]

Each target generates inputs with hypothesis (random byte mutations of valid files, and
structured mutations of their fields), feeds them to samcam's reader or per-image job,
and accepts exactly two outcomes: a result that is correct (checked against an
independent decoder or a round trip), or a ValueError/FileNotFoundError whose message
names the file. Anything else (another exception, a crash, a hang, MemoryError) fails.

The process limits its own address space (``RLIMIT_AS``) to what it uses after imports
plus ``--budget-mb``, with samcam's size limits lowered, so an input that makes samcam
allocate more than its limits allow fails here instead of exhausting the machine. The
input being tried is written to ``--last DIR`` first, so a crash can be reproduced.
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import lzma
import os
import pickle
import pickletools
import re
import resource
import shutil
import struct
import sys
import tempfile
import zipfile
import zlib
from collections import Counter, OrderedDict
from pathlib import Path

# samcam's limits, lowered so that the memory budget below is meaningful
LIMITS = {
    "SAMCAM_MAX_PIXELS": str(1 << 20),
    "SAMCAM_MAX_MASKS": "256",
    "SAMCAM_MAX_MASK_BYTES": str(16 << 20),
    "SAMCAM_MAX_FILE_BYTES": str(8 << 20),
}
os.environ.update(LIMITS)

import numpy as np  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import seed as hypothesis_seed  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from PIL import Image  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import hostile  # noqa: E402

from samcam import masks as store  # noqa: E402
from samcam.adapters import get as get_adapter  # noqa: E402
from samcam.adapters.run import adapt_one  # noqa: E402
from samcam.io import read_label_png  # noqa: E402
from samcam.masks import decode_coco_rle, encode_coco_rle  # noqa: E402
from samcam.safe_pickle import loads  # noqa: E402

torch = None  # imported by main() for the targets that read torch tensors (slow to import)
TORCH_TARGETS = ("cam_bytes", "cam_fields", "pickle_opcodes")

STATS: Counter = Counter()
WORK = Path(tempfile.mkdtemp(prefix="samcam-fuzz-"))
LAST = None  # folder where the input being tried is saved before the call


# ---------------------------------------------------------------------------- outcomes

# Targets whose files PIL opens in samcam.io, whose messages still show PIL's "<_io.BytesIO
# object at 0x...>" until samcam.io reports them with samcam.limits.image_open_error.
PIL_OPENED = ()
TARGET = None  # the target being run (set by main)


def attempt(call, *names):
    """Run ``call``; a clean error must name one of ``names`` and say why in one line (no
    ``<... object at 0x...>`` in place of the file or the reason). Returns (ok, value)."""
    try:
        value = call()
    except (ValueError, FileNotFoundError) as error:
        message = str(error)
        assert any(str(n) in message for n in names), f"error does not name the file: {type(error).__name__}: {message}"
        assert "\n" not in message, f"error of more than one line: {message!r}"
        assert TARGET in PIL_OPENED or not re.search(r"object at 0x[0-9a-f]+", message), f"object repr: {message}"
        STATS["clean error"] += 1
        STATS["error: " + re.sub(r"[0-9]+", "N", message.replace(str(WORK), ""))[:70]] += 0  # keys for variety only
        return False, None
    STATS["correct result"] += 1
    return True, value


def save_last(files):
    """Keep a copy of the input about to be tried (``{relative name: bytes}``)."""
    if LAST is None:
        return
    shutil.rmtree(LAST, ignore_errors=True)
    LAST.mkdir(parents=True)
    for name, data in files.items():
        (LAST / name).parent.mkdir(parents=True, exist_ok=True)
        (LAST / name).write_bytes(data)


def fresh_dir(name="case"):
    folder = WORK / name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


# ---------------------------------------------------------------------- byte mutations

INTERESTING = [0, 1, 2, 7, 8, 255, 256, 65535, 2**31 - 1, 2**31, 2**32 - 1, 2**63 - 1, 2**64 - 1, 10**6, 10**9]


@st.composite
def mutated(draw, seeds):
    """One of ``seeds`` with 1-8 random edits: bit flips, byte sets, inserts, deletes,
    truncation, block copies and interesting integers over 1-8 bytes."""
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, 8))):
        op = draw(st.sampled_from(["flip", "set", "insert", "delete", "truncate", "copy", "int"]))
        pos = draw(st.integers(0, max(0, len(data) - 1)))
        if op == "flip" and data:
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif op == "set" and data:
            data[pos] = draw(st.integers(0, 255))
        elif op == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=16))
        elif op == "delete" and data:
            del data[pos: pos + draw(st.integers(1, 16))]
        elif op == "truncate":
            del data[pos:]
        elif op == "copy" and data:
            start = draw(st.integers(0, len(data) - 1))
            data[pos:pos] = data[start: start + draw(st.integers(1, 64))]
        elif op == "int":
            width = draw(st.sampled_from([1, 2, 4, 8]))
            value = draw(st.sampled_from(INTERESTING)) % (1 << (8 * width))
            data[pos: pos + width] = value.to_bytes(width, draw(st.sampled_from(["little", "big"])))
    return bytes(data)


# ------------------------------------------------------------------------ checks of results

def check_maskset(maskset, round_trip=True):
    height, width = maskset.image_shape
    count = len(maskset)
    assert maskset.packed.shape == (count, (height * width + 7) // 8) and maskset.packed.dtype == np.uint8
    assert maskset.words.shape == (count, (height * width + 63) // 64)
    for key, value in maskset.scores.items():
        assert value.shape[:1] == (count,), key
    areas = maskset.areas
    assert ((areas >= 0) & (areas <= height * width)).all()
    if count * height * width <= 4_000_000:  # padding bits are never set: area = dense count
        assert np.array_equal(areas, maskset.dense.reshape(count, height * width).sum(axis=1))
    if round_trip:
        path = store.write(WORK / "roundtrip", maskset)
        again = store.load(path)
        assert again.image_shape == maskset.image_shape and np.array_equal(again.packed, maskset.packed)
        assert set(again.scores) == set(maskset.scores)


# =============================================================================== targets

def _valid_stores():
    rng = np.random.default_rng(0)
    seeds = []
    for count, height, width, scores in ((0, 8, 8, False), (3, 16, 20, True), (1, 1, 1, False), (2, 5, 13, True)):
        masks = rng.random((count, height, width)) > 0.6
        fields = {"predicted_iou": rng.random(count), "bbox": rng.random((count, 4))} if scores else None
        seeds.append(store.write(WORK / "seed", masks, scores=fields).read_bytes())
    return seeds


def _store_members(data: bytes):
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


def target_store_bytes(data):
    path = WORK / "x.masks.npz"
    save_last({"x.masks.npz": data})
    path.write_bytes(data)
    ok, maskset = attempt(lambda: store.load(path), path)
    if ok:
        check_maskset(maskset)


@st.composite
def store_member_mutations(draw):
    """A valid store whose member files (not the zip container) are mutated, then re-zipped
    with correct CRCs, so the mutations reach the .npy headers and payloads."""
    members = _store_members(draw(st.sampled_from(STORE_SEEDS)))
    names = sorted(members)
    for _ in range(draw(st.integers(1, 3))):
        name = draw(st.sampled_from(names))
        members[name] = draw(mutated([members[name]]))
    compression = draw(st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED]))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name in names:
            archive.writestr(name, members[name])
    return buffer.getvalue()


def _int_array(draw, shape_strategy, values):
    dtype = draw(st.sampled_from(["<i8", "<i4", "|i1", "<u8", "<f8", "|b1", "<U3"]))
    shape = draw(shape_strategy)
    flat = [draw(values) for _ in range(int(np.prod(shape)))]
    try:
        return np.array(flat, dtype=np.float64 if dtype == "<f8" else object).reshape(shape).astype(dtype)
    except (OverflowError, ValueError, TypeError):
        return np.zeros(shape, dtype)


@st.composite
def store_fields(draw):
    """A store built field by field: each field either valid or replaced by a hostile value."""
    height, width = draw(st.integers(1, 40)), draw(st.integers(1, 40))
    count = draw(st.integers(0, 6))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    masks = rng.random((count, height, width)) < draw(st.sampled_from([0.0, 0.1, 0.5, 1.0]))
    valid = _store_members(store.write(WORK / "seed", masks).read_bytes())
    arrays = {}
    for name, data in valid.items():
        arrays[name[:-4]] = np.load(io.BytesIO(data))
    edits = draw(st.lists(st.sampled_from(["format", "image_shape", "spans", "words", "score", "drop", "extra"]),
                          max_size=3))
    values = st.sampled_from(INTERESTING + [-1, -(2**63), 3, 64, 2**40])
    for edit in edits:
        if edit == "format":
            arrays["format"] = draw(st.sampled_from([np.array("samcam-masks/2"), np.array(1), np.array(b"samcam-masks/1"),
                                                     np.array(["samcam-masks/1"])]))
        elif edit == "image_shape":
            arrays["image_shape"] = _int_array(draw, st.sampled_from([(2,), (1,), (3,), (2, 1), ()]), values)
        elif edit == "spans":
            rows = draw(st.sampled_from([count, count + 1, max(0, count - 1), 1000, 300]))
            arrays["spans"] = _int_array(draw, st.sampled_from([(rows, 2), (rows, 3), (rows,), (2, rows)]), values)
        elif edit == "words":
            words = draw(st.sampled_from(["garbage", "truncated", "bomb", "more", "empty", "dtype"]))
            payload = arrays.get("words_lzma", np.zeros(0, np.uint8)).tobytes()
            if words == "garbage":
                payload = draw(st.binary(max_size=64))
            elif words == "truncated":
                payload = payload[: draw(st.integers(0, max(0, len(payload) - 1)))]
            elif words == "bomb":
                payload = lzma.compress(b"\xff" * draw(st.sampled_from([64, 4096, 1 << 20, 32 << 20])), preset=1)
            elif words == "more":
                try:
                    payload = lzma.compress(lzma.decompress(payload) + b"\x01" * 8)
                except lzma.LZMAError:  # already edited
                    payload = lzma.compress(b"\x01" * 8)
            elif words == "empty":
                payload = b""
            arrays["words_lzma"] = np.frombuffer(payload, np.uint8) if words != "dtype" else np.frombuffer(
                payload[: len(payload) // 8 * 8], "<u8")
        elif edit == "score":
            rows = draw(st.sampled_from([count, count + 1, 0]))
            kind = draw(st.sampled_from(["<f8", "<i8", "|b1", "<c8", "<U2", "<M8[s]"]))
            arrays["score_" + draw(st.sampled_from(["predicted_iou", "bbox", "x"]))] = np.zeros((rows, 2), kind)
        elif edit == "drop":
            arrays.pop(draw(st.sampled_from(sorted(arrays))), None)
        elif edit == "extra":
            arrays["other"] = np.arange(draw(st.integers(0, 100)))
    compressed = draw(st.booleans())
    buffer = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(buffer, **arrays)
    return buffer.getvalue()


def target_store(data):
    target_store_bytes(data)


# ------------------------------------------------------------------ amg.py PNG folders

def _png(array, mode):
    buffer = io.BytesIO()
    Image.fromarray(array).convert(mode).save(buffer, format="PNG")
    return buffer.getvalue()


@st.composite
def png_folders(draw):
    """An amg.py folder: numbered mask PNGs (valid, other modes/sizes, mutated, JPEG, junk
    names) and a metadata.csv (valid, mutated, missing)."""
    height, width = draw(st.integers(1, 24)), draw(st.integers(1, 24))
    count = draw(st.integers(1, 4))
    files = {}
    for index in range(count):
        mask = (np.asarray(draw(st.lists(st.booleans(), min_size=height * width, max_size=height * width)))
                .reshape(height, width).astype(np.uint8) * 255)
        kind = draw(st.sampled_from(["L", "L", "ones", "1", "RGB", "P", "I;16", "LA", "size", "mutated", "jpeg",
                                     "header"]))
        if kind in ("L", "1", "RGB", "P", "LA"):
            data = _png(mask, kind)
        elif kind == "ones":  # what cv2.imwrite(mask.astype(np.uint8)) writes
            data = _png(mask // 255, "L")
        elif kind == "I;16":
            data = _png(mask.astype(np.uint16) * 257, "I;16")
        elif kind == "size":
            data = _png(np.zeros((height + 1, width), np.uint8), "L")
        elif kind == "mutated":
            data = draw(mutated([_png(mask, "L")]))
        elif kind == "jpeg":
            buffer = io.BytesIO()
            Image.fromarray(mask).save(buffer, format="JPEG")
            data = buffer.getvalue()
        else:
            data = hostile.png_header_only(draw(st.sampled_from([width, 5000, 70000])), draw(st.sampled_from([height, 4000])))
        name = draw(st.sampled_from([f"{index}.png", f"{index}.png", f"0{index}.png", f"-{index}.png", "a.png",
                                     f"{index}.PNG"]))
        files[name] = data
    rows = ["id,area,bbox_x0,bbox_y0,bbox_w,bbox_h,point_input_x,point_input_y,predicted_iou,stability_score,"
            "crop_box_x0,crop_box_y0,crop_box_w,crop_box_h"]
    rows += [f"{i},{i},0,0,1,1,0.5,0.5,0.9,0.95,0,0,{width},{height}" for i in range(count)]
    metadata = "\n".join(rows).encode()
    choice = draw(st.sampled_from(["none", "valid", "mutated", "wide"]))
    if choice == "valid":
        files["metadata.csv"] = metadata
    elif choice == "mutated":
        files["metadata.csv"] = draw(mutated([metadata]))
    elif choice == "wide":
        files["metadata.csv"] = metadata + b"\n" + b"9" * 200_000
    return files


def target_png_folder(files):
    folder = fresh_dir("amg") / "2007_000032"
    folder.mkdir()
    save_last(files)
    for name, data in files.items():
        (folder / name).write_bytes(data)
    ok, maskset = attempt(lambda: store.load(folder), folder)
    if ok:
        check_maskset(maskset)
        names = sorted((f for f in os.listdir(folder) if f.lower().endswith(".png")), key=lambda f: (int(f[:-4]), f))
        for index, name in enumerate(names):  # an independent decode of each file
            with Image.open(io.BytesIO((folder / name).read_bytes())) as image:
                expected = np.asarray(image.convert("L") if image.mode not in ("L", "1") else image)
            expected = expected != 0  # any nonzero pixel is inside the mask
            assert np.array_equal(maskset[index], expected), name


# ------------------------------------------------------------------------ amg.py RLE JSON

def _rle_seeds():
    rng = np.random.default_rng(1)
    seeds = []
    for height, width, compressed in ((6, 7, True), (6, 7, False), (1, 1, True), (12, 3, True)):
        annotations = []
        for _ in range(2):
            mask = rng.random((height, width)) > 0.5
            rle = encode_coco_rle(mask)
            if not compressed:
                flat = mask.T.reshape(-1)
                runs, value, run = [], False, 0
                for pixel in flat:
                    if pixel != value:
                        runs.append(run)
                        value, run = pixel, 0
                    run += 1
                runs.append(run)
                rle = {"size": [height, width], "counts": runs}
            annotations.append({"segmentation": rle, "area": int(mask.sum()), "bbox": [0, 0, 1, 1],
                                "predicted_iou": 0.9, "point_coords": [[1.0, 2.0]], "stability_score": 0.9,
                                "crop_box": [0, 0, width, height]})
        seeds.append(json.dumps(annotations).encode())
    return seeds


def _check_rle_result(path, maskset, annotations):
    check_maskset(maskset)
    for index, annotation in enumerate(annotations):
        segmentation = annotation["segmentation"]
        again = decode_coco_rle(encode_coco_rle(maskset[index]))
        assert np.array_equal(again, maskset[index])
        if isinstance(segmentation.get("counts"), str):
            try:
                from pycocotools import mask as coco_mask
            except ImportError:
                continue
            reference = coco_mask.decode({"size": list(segmentation["size"]),
                                          "counts": segmentation["counts"].encode()}).astype(bool)
            assert np.array_equal(reference, maskset[index]), index


def target_rle_bytes(data):
    path = fresh_dir("rle") / "2007_000032.json"
    save_last({"2007_000032.json": data})
    path.write_bytes(data)
    ok, maskset = attempt(lambda: store.load(path), path)
    if ok:
        annotations = json.loads(data)
        annotations = annotations["annotations"] if isinstance(annotations, dict) else annotations
        _check_rle_result(path, maskset, annotations)


RLE_CHARS = st.text(alphabet=[chr(c) for c in range(40, 120)], max_size=40)
JSON_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=True),
                         st.text(max_size=5))


@st.composite
def rle_documents(draw):
    """amg.py RLE JSON built structurally: sizes and counts that fit, nearly fit, or do not."""
    height, width = draw(st.integers(0, 12)), draw(st.integers(0, 12))
    annotations = []
    wellformed = draw(st.booleans())  # half the documents are valid but for what follows
    for _ in range(draw(st.integers(0 if not wellformed else 1, 4))):
        size = [height, width] if wellformed else draw(st.sampled_from(
            [[height, width], [height, width], [width, height], [height], [-1, 5], [2**40, 2**40], [1.5, 2],
             ["3", 4], [True, 1], None]))
        kind = "valid" if wellformed else draw(st.sampled_from(["valid", "valid", "string", "list", "sum", "bad"]))
        if kind == "valid" and size == [height, width]:
            mask = np.asarray(draw(st.lists(st.booleans(), min_size=height * width, max_size=height * width)),
                              bool).reshape(height, width)
            counts = encode_coco_rle(mask)["counts"]
        elif kind == "string":
            counts = draw(RLE_CHARS)
        elif kind == "list":
            counts = draw(st.lists(st.integers(-3, 2 * max(1, height * width)), max_size=12))
        elif kind == "sum":
            counts = [height * width] + draw(st.lists(st.integers(0, 3), max_size=3))
        else:
            counts = draw(st.one_of(JSON_SCALARS, st.lists(JSON_SCALARS, max_size=4),
                                    st.dictionaries(st.text(max_size=3), JSON_SCALARS, max_size=2)))
        segmentation = {"size": size, "counts": counts}
        annotation = {"segmentation": segmentation if wellformed else draw(
            st.sampled_from([segmentation, segmentation, "x", [segmentation]]))}
        for key in draw(st.lists(st.sampled_from(["area", "bbox", "predicted_iou", "point_coords"]), max_size=4)):
            annotation[key] = draw(st.one_of(JSON_SCALARS, st.lists(JSON_SCALARS, max_size=4)))
        annotations.append(annotation)
    document = draw(st.sampled_from(["list", "dict"] if wellformed else ["list", "dict", "other"]))
    if document == "dict":
        return {"annotations": annotations}
    if document == "other":
        return draw(st.one_of(JSON_SCALARS, st.just({"x": annotations})))
    return annotations


def target_rle_json(document):
    data = json.dumps(document).encode()
    target_rle_bytes(data)


# ------------------------------------------------------------ RLE JSON: lists and objects

# what the runner's SAMCAM_MAX_MASKS lets an RLE JSON hold before it is parsed (samcam.masks.amg)
CONTAINERS_ALLOWED = 16 * (int(LIMITS["SAMCAM_MAX_MASKS"]) + 1)


def _containers(value):
    """Lists and objects in a parsed JSON value."""
    count, pending = 0, [value]
    while pending:
        item = pending.pop()
        if isinstance(item, (list, dict)):
            count += 1
            pending.extend(item.values() if isinstance(item, dict) else item)
    return count


@st.composite
def rle_container_documents(draw):
    """Valid amg.py annotations padded with lists and objects (empty, nested, deep, inside
    strings), around the count the readers allow before parsing: ``(bytes, lists and objects held)``."""
    annotations = json.loads(draw(st.sampled_from(RLE_SEEDS)))
    target = draw(st.sampled_from([0, 10, CONTAINERS_ALLOWED - 20, CONTAINERS_ALLOWED + 1, 3 * CONTAINERS_ALLOWED,
                                   200_000]))
    padding = draw(st.sampled_from(["empty lists", "empty objects", "nested", "deep", "in strings", "mixed"]))
    extra = max(0, target - _containers(annotations))
    depth = 0
    if padding == "empty lists":
        filler = [[] for _ in range(extra)]
    elif padding == "empty objects":
        filler = [{} for _ in range(extra)]
    elif padding == "nested":
        filler = [[[{}]] for _ in range(extra // 3)]
    elif padding == "deep":  # written as text below: json.dumps refuses deep nesting
        filler, depth = "DEEP", min(max(extra, 1), draw(st.sampled_from([50, 900, 5000])))
    elif padding == "in strings":  # brackets that are text, escaped quotes included
        filler = ['[{"\\' * 4 + "]" * 8 for _ in range(max(1, extra // 8))]
    else:
        filler = [[], {}, "[", 1e300, -(2**70), None] * (extra // 2)
    if draw(st.booleans()):
        document = {"annotations": annotations, "padding": filler}
    else:
        annotations[draw(st.sampled_from([0, -1]))]["extra"] = filler
        document = annotations
    data = json.dumps(document).encode().replace(b'"DEEP"', b"[" * depth + b"]" * depth)
    return data, _containers(document) + depth


def target_rle_containers(case):
    data, held = case
    path = fresh_dir("rle") / "2007_000032.json"
    save_last({"2007_000032.json": data})
    path.write_bytes(data)
    ok, maskset = attempt(lambda: store.load(path), path)
    if held > CONTAINERS_ALLOWED:
        assert not ok, f"{held} lists and objects, more than {CONTAINERS_ALLOWED}, were parsed"
    if ok:
        document = json.loads(data)
        _check_rle_result(path, maskset, document["annotations"] if isinstance(document, dict) else document)


# ------------------------------------------------------------------- amg.py metadata.csv

METADATA_COLUMNS = hostile.AMG_METADATA_HEADER.split(",")


@st.composite
def metadata_folders(draw):
    """An amg.py folder of valid mask PNGs whose metadata.csv is built field by field: rows
    missing, repeated or extra, columns missing or reordered, values that are not numbers,
    lines and files around the reader's bounds, bytes that are not UTF-8."""
    count = draw(st.integers(1, 4))
    height, width = draw(st.integers(1, 12)), draw(st.integers(1, 12))
    files = {}
    for index in range(count):
        mask = np.asarray(draw(st.lists(st.booleans(), min_size=height * width, max_size=height * width)),
                          np.uint8).reshape(height, width)
        files[f"{index}.png"] = _png(mask * draw(st.sampled_from([255, 1])), "L")
    columns = list(METADATA_COLUMNS)
    column_edit = draw(st.sampled_from(["none", "none", "none", "drop", "shuffle", "extra", "rename"]))
    if column_edit == "drop":
        columns.remove(draw(st.sampled_from(columns)))
    elif column_edit == "shuffle":
        columns = draw(st.permutations(columns))
    elif column_edit == "extra":
        columns.insert(draw(st.integers(0, len(columns))), "note")
    elif column_edit == "rename":
        columns[draw(st.integers(0, len(columns) - 1))] = "ID"
    ids = list(range(count))
    row_edit = draw(st.sampled_from(["none", "none", "none", "missing", "repeated", "extra", "many", "reversed"]))
    if row_edit == "missing":
        ids.remove(draw(st.sampled_from(ids)))
    elif row_edit == "repeated":
        ids.append(draw(st.sampled_from(ids)))
    elif row_edit == "extra":
        ids += [count + 5, -1, 10**30]
    elif row_edit == "many":
        ids += list(range(count, count + draw(st.sampled_from([10, 100, 400]))))
    elif row_edit == "reversed":
        ids.reverse()
    value = st.one_of(st.integers(-(2**40), 2**40).map(str), st.floats(allow_nan=True, allow_infinity=True).map(repr),
                      st.sampled_from(["", "nan", "inf", "-inf", "1e400", "0x10", "1_000", " 3 ", "9" * 5000, "a",
                                       '"1,2"', '"3\n4"', "\u00e9", "1e-400"]))
    lines = [",".join(columns)]
    value_edit = "none"
    for row_id in ids:
        fields = {name: str(draw(st.floats(0, 100))) for name in columns}
        if "id" in fields:
            fields["id"] = str(row_id)
        if draw(st.integers(0, 7)) == 0:
            fields[draw(st.sampled_from(columns))] = draw(value)
            value_edit = "value"
        lines.append(",".join(fields[name] for name in columns))
    text = draw(st.sampled_from(["\n", "\r\n", "\r"])).join(lines) + draw(st.sampled_from(["", "\n", "\n\n"]))
    data = text.encode("utf-8")
    # the reader's bounds (4 KiB a line, 4 KiB a PNG) are tried most
    byte_edit = draw(st.sampled_from(["none", "none", "latin1", "bom", "nul", "long line", "long line", "large", "large",
                                      "large", "mutated"]))
    if byte_edit == "latin1":
        data += b"\n0,\xe9"
    elif byte_edit == "bom":
        data = b"\xef\xbb\xbf" + data
    elif byte_edit == "nul":
        data = data.replace(b",", b"\x00,", 1)
    elif byte_edit == "long line":
        data += b"\n" + b"," * draw(st.sampled_from([4000, 4095, 4096, 4097, 20000]))
    elif byte_edit == "large":
        data += b"\n" * ((count + 1) * 4096 - len(data) + draw(st.sampled_from([-1, 0, 1, 1, 100_000])))
    elif byte_edit == "mutated":
        data = draw(mutated([data]))
    files["metadata.csv"] = data
    return files, (column_edit, row_edit, value_edit, byte_edit)


def _expected_scores(data: bytes, names):
    """An independent reading of metadata.csv: the per-mask columns of the PNGs' rows (last row per id wins)."""
    rows = {}
    for row in csv.DictReader(io.StringIO(data.decode("utf-8"), newline="")):
        rows[int(row["id"])] = row
    ordered = [rows[int(name[:-4])] for name in names]
    return {"area": [int(float(row["area"])) for row in ordered],
            "predicted_iou": [float(row["predicted_iou"]) for row in ordered],
            "bbox": [[float(row[f"bbox_{k}"]) for k in ("x0", "y0", "w", "h")] for row in ordered]}


def target_metadata_csv(case):
    files, edits = case
    folder = fresh_dir("amg") / "2007_000032"
    folder.mkdir()
    save_last(files)
    for name, data in files.items():
        (folder / name).write_bytes(data)
    ok, maskset = attempt(lambda: store.load(folder), folder)
    if edits == ("none", "none", "none", "none"):
        assert ok, "amg.py's own metadata.csv was refused"
    if not ok:
        return
    check_maskset(maskset)
    data = files["metadata.csv"]
    pngs = sorted((name for name in files if name.endswith(".png")), key=lambda name: int(name[:-4]))
    assert len(data) <= (len(pngs) + 1) * 4096, "a metadata.csv above its budget was read"
    assert max(len(line) for line in data.decode("utf-8").splitlines()) <= 4096
    expected = _expected_scores(data, pngs)
    assert maskset.scores["area"].tolist() == expected["area"]
    np.testing.assert_array_equal(maskset.scores["predicted_iou"], expected["predicted_iou"])
    np.testing.assert_array_equal(maskset.scores["bbox"], expected["bbox"])


# ------------------------------------------------------------------------------ label PNGs

def _label_seeds():
    rng = np.random.default_rng(2)
    label = rng.integers(0, 21, (9, 11)).astype(np.uint8)
    label[0, :3] = 255
    seeds = [_png(label, "L")]
    palette = Image.fromarray(label, mode="P")
    palette.putpalette(list(range(256)) * 3)
    buffer = io.BytesIO()
    palette.save(buffer, format="PNG")
    seeds.append(buffer.getvalue())
    seeds.append(_png(label.astype(np.uint16), "I;16"))
    return seeds


def _check_label(path, label):
    assert label.ndim == 2 and label.dtype == np.uint8
    with Image.open(io.BytesIO(path.read_bytes())) as image:  # what PIL decodes, independently
        expected = np.array(image)
    assert np.array_equal(label, expected.astype(np.uint8)) and expected.min(initial=0) >= 0
    assert expected.max(initial=0) <= 255


def _png_chunks(data):
    chunks, position = [], 8
    while position + 8 <= len(data):
        length = struct.unpack(">I", data[position: position + 4])[0]
        chunks.append((data[position + 4: position + 8], data[position + 8: position + 8 + length]))
        position += 12 + length
    return chunks


@st.composite
def png_chunk_mutations(draw, seeds):
    """A valid PNG whose chunk payloads (IHDR fields, compressed pixels, palette) are mutated
    and whose CRCs are then recomputed, so the mutations reach the decoder."""
    chunks = _png_chunks(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, 3))):
        index = draw(st.integers(0, len(chunks) - 1))
        kind, payload = chunks[index]
        try:
            raw = zlib.decompress(payload) if kind == b"IDAT" else None
        except zlib.error:  # mutated already
            raw = None
        if raw is not None and draw(st.booleans()):
            payload = zlib.compress(draw(mutated([raw])))
        else:
            payload = draw(mutated([payload])) if payload else draw(st.binary(max_size=8))
        chunks[index] = (kind, payload)
    if draw(st.booleans()):  # a chunk length that lies
        index = draw(st.integers(0, len(chunks) - 1))
        kind, payload = chunks[index]
        body = b"".join(_chunk(k, p) for k, p in chunks)
        offset = 8 + sum(12 + len(p) for _, p in chunks[:index])
        lie = struct.pack(">I", draw(st.sampled_from([0, 1, len(payload) + 1, 2**31 - 1, 2**32 - 1])))
        return b"\x89PNG\r\n\x1a\n" + body[: offset - 8] + lie + body[offset - 8 + 4:]
    return b"\x89PNG\r\n\x1a\n" + b"".join(_chunk(k, p) for k, p in chunks)


def target_label_bytes(data):
    path = fresh_dir("labels") / "2007_000032.png"
    save_last({"2007_000032.png": data})
    path.write_bytes(data)
    ok, label = attempt(lambda: read_label_png(path), path)
    if ok:
        _check_label(path, label)


def _chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


@st.composite
def label_files(draw):
    """Label files built structurally: modes and bit depths, declared sizes with and
    without data, other formats named .png, and PNG chunk sequences with valid CRCs."""
    kind = draw(st.sampled_from(["mode", "header", "chunks", "format", "empty"]))
    height, width = draw(st.integers(1, 20)), draw(st.integers(1, 20))
    array = np.asarray(draw(st.lists(st.integers(0, 255), min_size=height * width, max_size=height * width)),
                       np.uint8).reshape(height, width)
    if kind == "mode":
        mode = draw(st.sampled_from(["L", "P", "1", "RGB", "RGBA", "LA", "I;16"]))
        if mode == "I;16":
            return _png(array.astype(np.uint16) * draw(st.sampled_from([1, 257])), "I;16")
        return _png(array, mode)
    if kind == "header":
        return hostile.png_header_only(draw(st.sampled_from([width, 2**12, 2**16, 2**31 - 1, 0])),
                                       draw(st.sampled_from([height, 2**12, 0, 2**31 - 1])))
    if kind == "chunks":
        depth, color = draw(st.sampled_from([(8, 0), (16, 0), (1, 0), (8, 3), (8, 2), (8, 4), (4, 3), (3, 0)]))
        ihdr = struct.pack(">IIBBBBB", width, height, depth, color, 0, 0, draw(st.sampled_from([0, 0, 1])))
        raw = b"".join(b"\x00" + bytes(array[row, : max(1, width * depth // 8)]) for row in range(height))
        body = [_chunk(b"IHDR", ihdr)]
        for extra in draw(st.lists(st.sampled_from(["PLTE", "tRNS", "IDAT", "junk", "zTXt", "iCCP", "IEND"]), max_size=4)):
            if extra == "PLTE":
                body.append(_chunk(b"PLTE", bytes(i % 256 for i in range(draw(st.sampled_from([3, 768, 771]))))))
            elif extra == "tRNS":
                body.append(_chunk(b"tRNS", b"\x00" * draw(st.integers(0, 300))))
            elif extra == "IDAT":
                body.append(_chunk(b"IDAT", zlib.compress(raw)[: draw(st.integers(0, 200))]))
            elif extra == "zTXt":
                body.append(_chunk(b"zTXt", b"k\x00\x00" + zlib.compress(b"a" * draw(st.sampled_from([10, 10**6])))))
            elif extra == "iCCP":
                body.append(_chunk(b"iCCP", b"p\x00\x00" + zlib.compress(b"\x00" * 1000)))
            elif extra == "junk":
                body.append(_chunk(draw(st.sampled_from([b"abCD", b"IHDR", b"acTL"])), draw(st.binary(max_size=20))))
            else:
                body.append(_chunk(b"IEND", b""))
        body.append(_chunk(b"IDAT", zlib.compress(raw)))
        body.append(_chunk(b"IEND", b""))
        return b"\x89PNG\r\n\x1a\n" + b"".join(body)
    if kind == "format":
        fmt = draw(st.sampled_from(["JPEG", "BMP", "GIF", "TIFF", "WEBP"]))
        buffer = io.BytesIO()
        Image.fromarray(array).save(buffer, format=fmt)
        return buffer.getvalue()
    return b""


def target_label(data):
    target_label_bytes(data)


# ---------------------------------------------------------------------------- CAM .npy files

METHODS = ["toco", "mctformer", "clims", "clip-es", "transcam"]  # + irn and amn (torch tensors) when torch is there
# the methods whose CAM file is {class: (H, W) plane}, not a dict of named arrays
CLASS_DICTS = ("mctformer", "transcam")


def _transcam_normalised(high_res):
    """TransCAM infer_TransCAM.py:69-74, restated: per map, the pixels at its minimum are zeroed,
    then min-max normalised with a -1e-5 offset, so every stored map has values below 0 (which
    is how samcam tells TransCAM's files from MCTformer's)."""
    maps = np.array(high_res, np.float32)
    low = maps.min(axis=(1, 2), keepdims=True, initial=np.inf)
    high = maps.max(axis=(1, 2), keepdims=True, initial=-np.inf)
    maps[maps < low + 1e-5] = 0
    return ((maps - low - 1e-5) / (high - low + 1e-5)).astype(np.float32)


def _cam_dict(method, keys, high_res):
    """The CAM dict ``method`` saves (see tests/support/cam_files.py for each method's np.save)."""
    if method in CLASS_DICTS:
        return {int(key): high_res[index] for index, key in enumerate(keys)}
    if method == "clip-es":  # keys unsorted (the order of the image's XML objects), float16 maps
        return {"keys": keys[::-1].astype(np.int64), "attn_highres": high_res[::-1].astype(np.float16)}
    if method == "toco":  # softmax probabilities, background dropped: at most 1 per pixel
        return {"keys": keys.astype(np.int64), "high_res": high_res / max(1.0, float(high_res.sum(axis=0).max(initial=0)))}
    stride4 = np.ascontiguousarray(high_res[:, ::4, ::4])
    if method == "clims":  # IRN's format, numpy keys
        return {"keys": keys.astype(np.int64), "cam": stride4, "high_res": high_res}
    if method == "irn":
        return {"keys": torch.tensor(keys, dtype=torch.int64), "cam": torch.from_numpy(stride4), "high_res": high_res}
    # amn: channel 0 background
    background = 1.0 - high_res.max(axis=0, keepdims=True, initial=0.0)
    with_background = np.concatenate([background, high_res]).astype(np.float32)
    return {"keys": torch.tensor(keys, dtype=torch.int64), "cam": torch.from_numpy(with_background[:, ::4, ::4].copy()),
            "high_res": with_background}


def _own_label(method, keys, high_res, threshold):
    """The method's own thresholding, restated (not samcam's code)."""
    if method == "toco":
        high_res = high_res / max(1.0, float(high_res.sum(axis=0).max(initial=0)))
    if method == "clip-es":  # eval_cam.py:56-65 on the stored float16 maps; threshold >= 1: (1 - max)^t
        cams = high_res[::-1].astype(np.float16)
        background = np.power(1 - np.max(cams, axis=0, keepdims=True), threshold)
        lookup = np.pad(keys[::-1] + 1, (1, 0), mode="constant")
        return lookup[np.argmax(np.concatenate((background, cams)), axis=0)].astype(np.uint8)
    cams = np.pad(high_res, ((1, 0), (0, 0), (0, 0)), mode="constant", constant_values=threshold)
    lookup = np.pad(keys + 1, (1, 0), mode="constant")
    return lookup[np.argmax(cams, axis=0)].astype(np.uint8)


def _cam_seeds():
    rng = np.random.default_rng(3)
    seeds = []
    for method in METHODS:
        keys = np.array([2, 14])
        high_res = rng.random((2, 6, 9), dtype=np.float32)
        buffer = io.BytesIO()
        np.save(buffer, _cam_dict(method, keys, high_res), allow_pickle=True)
        seeds.append((method, buffer.getvalue(), {}))
    # The other layouts samcam reads (see tests/support/cam_files.py's writers): CLIMS's
    # previous version (hr_cam: no threshold of its own, one is given) and its random walk
    # (rw), MCTformer+'s CRF marginals (--layout crf).
    keys = np.array([2, 14])
    high_res = rng.random((2, 6, 9), dtype=np.float32)
    padded = np.pad(keys + 1, (1, 0), mode="constant").astype(np.int64)
    background = np.power(1 - high_res.max(axis=0, keepdims=True), 12)
    scores = np.concatenate([background, high_res]).astype(np.float64)
    probs = (scores / scores.sum(axis=0, keepdims=True)).astype(np.float32)
    for method, cam, options in (
            ("clims", {"keys": padded, "cam": np.ascontiguousarray(high_res[:, ::4, ::4]), "hr_cam": high_res},
             {"threshold": 0.3}),
            ("clims", {"keys": padded, "rw": high_res / high_res.max()}, {}),
            ("mctformer", {0: probs[0], **{int(k) + 1: probs[i + 1] for i, k in enumerate(keys)}}, {"layout": "crf"})):
        buffer = io.BytesIO()
        np.save(buffer, cam, allow_pickle=True)
        seeds.append((method, buffer.getvalue(), options))
    return seeds


def _run_cam(method, data, height=6, width=9, **options):
    """One image of ``samcam adapt`` on a CAM file: the real per-image job."""
    root = fresh_dir("cams")
    (root / "cams").mkdir()
    (root / "cams" / "x.npy").write_bytes(data)
    store.write(root / "masks" / "x", np.zeros((1, height, width), bool))
    save_last({"x.npy": data, "adapt_one.json": json.dumps(dict(method=method, **options)).encode()})
    ok, _ = attempt(lambda: adapt_one("x", method=method, out_dir=str(root / "out"), masks_dir=str(root / "masks"),
                                      cams_dir=str(root / "cams"), **options), root / "cams" / "x.npy")
    if ok:
        label = read_label_png(root / "out" / "x.png")
        assert label.shape == (height, width) and label.max(initial=0) <= 20
    return ok


@st.composite
def cam_mutations(draw):
    method, data, options = draw(st.sampled_from(CAM_SEEDS))
    return method, draw(mutated([data])), options


def target_cam_bytes(case):
    method, data, options = case
    _run_cam(method, data, **options)


CORRUPTIONS = ["none", "none", "keys_dtype", "keys_values", "keys_shape", "scores_dtype", "scores_shape", "nan",
               "missing", "extra", "container", "class_key", "size", "torch_dtype", "view"]


@st.composite
def cam_dicts(draw):
    """CAM dicts of each method's layout, well formed or with one field made hostile."""
    method = draw(st.sampled_from(METHODS))
    count = draw(st.integers(0, 3))
    height, width = draw(st.integers(1, 10)), draw(st.integers(1, 10))
    keys = np.array(sorted(draw(st.sets(st.integers(0, 19), min_size=count, max_size=count))), np.int64)
    values = draw(st.lists(st.floats(0, 1, width=32), min_size=count * height * width, max_size=count * height * width))
    high_res = np.asarray(values, np.float32).reshape(count, height, width)
    if method in CLASS_DICTS + ("clip-es",) and count == 0:  # their files always hold a class
        count, keys, high_res = 1, np.array([3]), np.ones((1, height, width), np.float32)
    if method == "transcam":
        high_res = _transcam_normalised(high_res)
    cam = _cam_dict(method, keys, high_res)
    corruption = draw(st.sampled_from(CORRUPTIONS))
    score_key = {"mctformer": None, "transcam": None, "clip-es": "attn_highres"}.get(method, "high_res")
    if corruption == "keys_dtype" and "keys" in cam:
        cam["keys"] = np.asarray(keys, draw(st.sampled_from([np.float32, np.bool_, "U2", object, np.uint64])))
    elif corruption == "keys_values" and "keys" in cam:
        bad = draw(st.sampled_from([-1, 20, 255, 256, 2**40, -(2**63)]))
        cam["keys"] = np.array(list(np.asarray(cam["keys"])[:-1]) + [bad], dtype=np.int64) if count else np.array([bad])
    elif corruption == "keys_shape" and "keys" in cam:
        cam["keys"] = np.asarray(cam["keys"]).reshape(1, -1)
    elif corruption == "scores_dtype" and score_key:
        kind = draw(st.sampled_from([np.float16, np.float64, np.int32, np.bool_, np.complex64, "U1", object, "M8[s]"]))
        cam[score_key] = np.asarray(cam[score_key]).astype(kind) if kind != "M8[s]" else np.zeros(
            np.shape(cam[score_key]), kind)
    elif corruption == "scores_shape" and score_key:
        shape = draw(st.sampled_from([(count + 2, height, width), (height, width), (1, count, height, width), (0,)]))
        cam[score_key] = np.zeros(shape, np.float32)
    elif corruption == "nan" and score_key and count:
        cam[score_key] = np.array(cam[score_key])
        cam[score_key][..., 0, 0] = draw(st.sampled_from([np.nan, np.inf, -np.inf]))
    elif corruption == "missing" and cam:
        cam.pop(draw(st.sampled_from(sorted(cam, key=str))))
    elif corruption == "extra":
        cam[draw(st.sampled_from(["extra", 7, b"k", None, 1.5]))] = draw(st.sampled_from([np.zeros(3), "x", [1, 2]]))
    elif corruption == "container":
        cam = draw(st.sampled_from([[cam], np.zeros((2, 2)), "cam", None, OrderedDict(cam), {"nested": cam}]))
    elif corruption == "class_key" and method in CLASS_DICTS:
        cam[draw(st.sampled_from([-1, 19, 20, 2**70, np.int64(5), True]))] = np.zeros((height, width), np.float32)
    elif corruption == "size":
        height, width = height + 1, width
    elif corruption == "torch_dtype" and torch is not None and score_key:
        dtype = draw(st.sampled_from([torch.bfloat16, torch.float16, torch.int8, torch.bool, torch.complex64]))
        cam[score_key] = torch.as_tensor(np.asarray(cam[score_key], np.float32)).to(dtype)
    elif corruption == "view" and torch is not None and score_key and count:
        base = torch.as_tensor(np.asarray(cam[score_key], np.float32))
        cam[score_key] = base.transpose(1, 2).contiguous().transpose(1, 2)  # a non-contiguous view
    else:
        corruption = "none"
    return method, cam, keys, high_res, height, width, corruption


def target_cam(case):
    method, cam, keys, high_res, height, width, corruption = case
    buffer = io.BytesIO()
    np.save(buffer, np.array(cam, dtype=object) if not isinstance(cam, np.ndarray) else cam, allow_pickle=True)
    ok = _run_cam(method, buffer.getvalue(), height, width)
    if corruption in ("none", "view"):
        assert ok, f"a well-formed {method} CAM dict failed"
        adapter = get_adapter(method)
        threshold = adapter.default_threshold(adapter.cam_format(cam) if isinstance(cam, dict) else None)
        expected = _own_label(method, keys, high_res, threshold)
        label = read_label_png(WORK / "cams" / "out" / "x.png")
        refined_from = adapter.cam_to_label(cam, image_shape=(height, width))
        assert np.array_equal(refined_from, expected)
        assert label.shape == expected.shape


# ------------------------------------------------------------------------ pickle opcode streams

def _pickle_seeds():
    rng = np.random.default_rng(4)
    objects = [
        np.array({"keys": np.array([1, 5]), "high_res": rng.random((2, 3, 4), dtype=np.float32)}, dtype=object),
        np.array({0: np.ones((2, 2), np.float16), "s": np.array(["ab", "c"]), "t": np.datetime64("2020-01-01")},
                 dtype=object),
        np.array({"o": OrderedDict(a=np.int64(3)), "set": {1, 2}, "c": 1 + 2j, "b": np.array([True, False])},
                 dtype=object),
        np.array([np.float32(0.5), np.arange(3, dtype=np.uint16)], dtype=object),
    ]
    if torch is not None:
        objects.append(np.array({"keys": torch.tensor([3, 4]), "cam": torch.rand(2, 3)[:, ::2]}, dtype=object))
    seeds = []
    for obj in objects:
        for protocol in (2, 3, 4, 5):
            seeds.append(pickle.dumps(obj, protocol=protocol))
    return seeds


def _opcode_slices(data):
    positions = [pos for _, _, pos in pickletools.genops(data)] + [len(data)]
    return [data[a:b] for a, b in zip(positions, positions[1:])]


ALLOWED_NAMES = [
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "scalar"), ("numpy", "ndarray"),
    ("numpy", "dtype"), ("numpy.core.numeric", "_frombuffer"), ("collections", "OrderedDict"), ("builtins", "set"),
    ("builtins", "frozenset"), ("builtins", "complex"), ("_codecs", "encode"), ("numpy.dtypes", "Float64DType"),
    ("numpy.dtypes", "StrDType"), ("numpy.dtypes", "VoidDType"), ("torch._utils", "_rebuild_tensor_v2"),
    ("torch.storage", "_load_from_bytes"), ("torch", "float32"),
    ("builtins", "eval"), ("os", "system"), ("numpy.dtypes", "_add_dtype_helper"), ("numpy", "load"),
]


@st.composite
def opcodes(draw):
    """One opcode with its argument, from the whole pickle vocabulary."""
    kind = draw(st.sampled_from(["int", "long", "float", "str", "bytes", "const", "container", "mark", "close",
                                 "tuple", "global", "stack_global", "call", "memo", "stack", "setitem", "ext",
                                 "persid", "frame", "inst"]))
    if kind == "int":
        return b"K" + bytes([draw(st.integers(0, 255))]) if draw(st.booleans()) else b"J" + struct.pack(
            "<i", draw(st.integers(-(2**31), 2**31 - 1)))
    if kind == "long":
        value = draw(st.sampled_from(INTERESTING + [-1, 2**100, -(2**64)]))
        raw = value.to_bytes((value.bit_length() + 8) // 8 or 1, "little", signed=True)
        return b"\x8a" + bytes([len(raw)]) + raw
    if kind == "float":
        return b"G" + struct.pack(">d", draw(st.floats(allow_nan=True)))
    if kind == "str":
        text = draw(st.sampled_from(["f8", "O8", "V8", "u1", "<", ">", "|", "b", "high_res", "keys", "latin1",
                                     "U5", "i4,f8", "(2,)f8", "M8[s]", "", "V1000000000"])).encode()
        return b"X" + struct.pack("<I", len(text)) + text
    if kind == "bytes":
        raw = draw(st.sampled_from([b"", b"b", b"\x41" * 8, b"\x00" * 24, b"\x00\x00\x80?", bytes(range(16))]))
        return b"C" + bytes([len(raw)]) + raw
    if kind == "const":
        return draw(st.sampled_from([b"N", b"\x88", b"\x89"]))
    if kind == "container":
        return draw(st.sampled_from([b"]", b"}", b")", b"\x8f"]))
    if kind == "mark":
        return b"("
    if kind == "close":
        return draw(st.sampled_from([b"t", b"l", b"d", b"e", b"u", b"\x90", b"\x91", b"1"]))
    if kind == "tuple":
        return draw(st.sampled_from([b"\x85", b"\x86", b"\x87"]))
    if kind == "global":
        module, name = draw(st.sampled_from(ALLOWED_NAMES))
        return b"c" + module.encode() + b"\n" + name.encode() + b"\n"
    if kind == "stack_global":
        module, name = draw(st.sampled_from(ALLOWED_NAMES))
        return (b"X" + struct.pack("<I", len(module)) + module.encode() + b"X" + struct.pack("<I", len(name))
                + name.encode() + b"\x93")
    if kind == "call":
        return draw(st.sampled_from([b"R", b"b", b"\x81", b"\x92", b"o"]))
    if kind == "memo":
        return draw(st.sampled_from([b"\x94", b"q" + bytes([draw(st.integers(0, 4))]), b"h" + bytes([draw(st.integers(0, 4))])]))
    if kind == "stack":
        return draw(st.sampled_from([b"2", b"0"]))
    if kind == "setitem":
        return draw(st.sampled_from([b"a", b"s"]))
    if kind == "ext":
        return b"\x82" + bytes([draw(st.integers(0, 255))])
    if kind == "persid":
        return b"Q"
    if kind == "frame":
        return b"\x95" + struct.pack("<Q", draw(st.sampled_from([0, 8, 2**40])))
    module, name = draw(st.sampled_from(ALLOWED_NAMES))
    return b"i" + module.encode() + b"\n" + name.encode() + b"\n"


@st.composite
def pickle_streams(draw):
    """Opcode streams: a real pickle with opcodes deleted, duplicated, swapped or inserted,
    or a stream written from scratch out of the vocabulary, always ending in STOP."""
    if draw(st.booleans()):
        ops = _opcode_slices(draw(st.sampled_from(PICKLE_SEEDS)))
        for _ in range(draw(st.integers(1, 6))):
            edit = draw(st.sampled_from(["delete", "duplicate", "swap", "insert", "replace"]))
            index = draw(st.integers(0, len(ops) - 1))
            if edit == "delete" and len(ops) > 1:
                del ops[index]
            elif edit == "duplicate":
                ops.insert(index, ops[index])
            elif edit == "swap":
                other = draw(st.integers(0, len(ops) - 1))
                ops[index], ops[other] = ops[other], ops[index]
            elif edit == "insert":
                ops.insert(index, draw(opcodes()))
            else:
                ops[index] = draw(opcodes())
        body = b"".join(ops)
    else:
        body = b"\x80\x04" + b"".join(draw(st.lists(opcodes(), max_size=40)))
    return body if body.endswith(b".") else body + b"."


def _touch(obj, seen=None):
    """Use what came out, the way samcam would: numpy follows object pointers, torch its storage."""
    seen = set() if seen is None else seen
    if id(obj) in seen:
        return
    seen.add(id(obj))
    if isinstance(obj, dict):
        for key, value in list(obj.items()):
            _touch(key, seen)
            _touch(value, seen)
    elif isinstance(obj, (list, tuple, set, frozenset)):
        for item in list(obj):
            _touch(item, seen)
    elif isinstance(obj, np.ndarray):
        if obj.dtype.hasobject:
            for item in obj.reshape(-1).tolist():
                _touch(item, seen)
        else:
            obj.copy()
            obj.tobytes()
        repr(obj)
    elif isinstance(obj, np.dtype):
        repr(obj), obj.itemsize
    elif torch is not None and isinstance(obj, torch.Tensor):
        obj.clone()
        obj.detach().cpu().contiguous()
        repr(obj)


def target_pickle(data):
    save_last({"x.pkl": data})
    ok, value = attempt(lambda: loads(data, source="x.npy"), "x.npy")
    if ok:
        _touch(value)


# =============================================================================== main

STORE_SEEDS = CAM_SEEDS = PICKLE_SEEDS = RLE_SEEDS = None  # made by main(), after torch is imported or not

TARGETS = {
    # name: (strategy, function, what it feeds)
    "store_bytes": (lambda: st.one_of(mutated(STORE_SEEDS), store_member_mutations()), target_store),
    "store_fields": (lambda: store_fields(), target_store),
    "png_folder": (lambda: png_folders(), target_png_folder),
    "rle_bytes": (lambda: mutated(_rle_seeds()), target_rle_bytes),
    "rle_fields": (lambda: rle_documents(), target_rle_json),
    "rle_containers": (lambda: rle_container_documents(), target_rle_containers),
    "metadata_csv": (lambda: metadata_folders(), target_metadata_csv),
    "label_bytes": (lambda: st.one_of(mutated(_label_seeds()), png_chunk_mutations(_label_seeds())),
                    target_label_bytes),
    "label_fields": (lambda: label_files(), target_label),
    "cam_bytes": (lambda: cam_mutations(), target_cam_bytes),
    "cam_fields": (lambda: cam_dicts(), target_cam),
    "pickle_opcodes": (lambda: pickle_streams(), target_pickle),
}


def limit_memory(budget_mb: int) -> int:
    """Cap this process's address space at what it maps now plus ``budget_mb``; returns the cap."""
    with open("/proc/self/status") as handle:
        size_kb = int(re.search(r"VmSize:\s+(\d+)", handle.read()).group(1))
    cap = size_kb * 1024 + budget_mb * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    return cap


def main(argv=None) -> int:
    global LAST, torch, STORE_SEEDS, CAM_SEEDS, PICKLE_SEEDS, RLE_SEEDS, TARGET
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("target", choices=sorted(TARGETS))
    parser.add_argument("--examples", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--budget-mb", type=int, default=1024)
    parser.add_argument("--stats", help="write the counts as JSON here")
    parser.add_argument("--last", help="folder that holds the input being tried (for reproducing a crash)")
    args = parser.parse_args(argv)
    LAST = Path(args.last) if args.last else None
    TARGET = args.target
    if args.target in TORCH_TARGETS:
        try:
            import torch as torch_module
        except ImportError:  # then the CAM targets use the numpy layouts only
            torch_module = None
        torch = torch_module
        if torch is not None:
            METHODS.extend(["irn", "amn"])
    STORE_SEEDS, CAM_SEEDS, PICKLE_SEEDS, RLE_SEEDS = _valid_stores(), _cam_seeds(), _pickle_seeds(), _rle_seeds()
    strategy, function = TARGETS[args.target]
    cap = limit_memory(args.budget_mb)

    @hypothesis_seed(args.seed)
    @settings(max_examples=args.examples, deadline=None, database=None, derandomize=False,
              suppress_health_check=list(HealthCheck), print_blob=True)
    @given(strategy())
    def run(case):
        STATS["inputs tried"] += 1
        function(case)

    try:
        run()
    finally:
        counts = {key: value for key, value in STATS.items() if not key.startswith("error: ")}
        counts["distinct error messages"] = sum(1 for key in STATS if key.startswith("error: "))
        counts.update(target=args.target, examples=args.examples, seed=args.seed, address_space_cap=cap,
                      torch=torch is not None)
        print(json.dumps(counts, sort_keys=True))
        if args.stats:
            Path(args.stats).write_text(json.dumps(counts, sort_keys=True))
        shutil.rmtree(WORK, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
