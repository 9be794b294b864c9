"""Checkpoint cache and download (samcam.sam.checkpoints), against a loopback HTTP server (no
internet needed), and the offline error of every official model."""
from __future__ import annotations

import hashlib
import http.server
import threading
from pathlib import Path

import pytest
from family_models import CLI, need
from PIL import Image  # noqa: E402

from samcam.cli import main  # noqa: E402
from samcam.sam import checkpoints, registry  # noqa: E402
from samcam.sam.checkpoints import CheckpointError
from samcam.sam.registry import MaskModel

PAYLOAD = bytes(range(256)) * 4000  # ~1 MB: several read chunks
PAYLOAD_SHA = hashlib.sha256(PAYLOAD).hexdigest()


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - http.server's naming
        if self.path == "/good.pth":
            self.send_response(200)
            self.send_header("Content-Length", str(len(PAYLOAD)))
            self.end_headers()
            self.wfile.write(PAYLOAD)
        elif self.path == "/short.pth":
            # Announces the whole file, sends a third of it, then hangs up.
            self.send_response(200)
            self.send_header("Content-Length", str(len(PAYLOAD)))
            self.end_headers()
            self.wfile.write(PAYLOAD[: len(PAYLOAD) // 3])
            self.wfile.flush()
            self.close_connection = True
        else:
            self.send_error(404)

    def log_message(self, *args):  # keep pytest output clean
        pass


@pytest.fixture(scope="module")
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def _leftovers(folder: Path):
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_download_verifies_and_moves_into_place(server, tmp_path):
    target = tmp_path / "cache" / "model.pth"
    path = checkpoints.download(f"{server}/good.pth", target, PAYLOAD_SHA, progress=False)
    assert path == target
    assert target.read_bytes() == PAYLOAD
    assert _leftovers(target.parent) == ["model.pth"]  # no .part file left


def test_wrong_checksum_leaves_no_file(server, tmp_path):
    target = tmp_path / "model.pth"
    with pytest.raises(CheckpointError) as info:
        checkpoints.download(f"{server}/good.pth", target, "0" * 64, progress=False)
    assert "SHA-256" in str(info.value) and "model.pth" in str(info.value)
    assert _leftovers(tmp_path) == []


def test_interrupted_transfer_leaves_no_file(server, tmp_path):
    target = tmp_path / "model.pth"
    with pytest.raises(CheckpointError) as info:
        checkpoints.download(f"{server}/short.pth", target, PAYLOAD_SHA, progress=False)
    message = str(info.value)
    assert "model.pth" in message and ("interrupted" in message or "cut short" in message)
    assert _leftovers(tmp_path) == []


def test_http_error_names_url(server, tmp_path):
    with pytest.raises(CheckpointError, match="missing.pth"):
        checkpoints.download(f"{server}/missing.pth", tmp_path / "missing.pth", PAYLOAD_SHA, progress=False)
    assert _leftovers(tmp_path) == []


def test_resolve_downloads_into_cache_then_reuses_it(server, tmp_path, monkeypatch):
    monkeypatch.setenv("SAMCAM_CACHE", str(tmp_path / "cache"))
    fake = MaskModel("vit_b", "sam", "vit_b", "sam_vit_b_01ec64.pth", f"{server}/good.pth", PAYLOAD_SHA, "test")
    monkeypatch.setitem(registry.MASK_MODELS, "vit_b", fake)
    first = checkpoints.resolve_checkpoint("vit_b", progress=False)
    assert first == tmp_path / "cache" / "sam_vit_b_01ec64.pth"
    assert first.read_bytes() == PAYLOAD
    # Second call: served from the cache even with the server URL broken.
    monkeypatch.setitem(registry.MASK_MODELS, "vit_b",
                        MaskModel("vit_b", "sam", "vit_b", fake.filename, f"{server}/missing.pth", PAYLOAD_SHA, "test"))
    assert checkpoints.resolve_checkpoint("vit_b", progress=False) == first


def test_no_network_error_says_which_file_and_where(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("SAMCAM_CACHE", str(cache))
    # Port 9 on loopback: nothing listens, like a machine without network access.
    dead = MaskModel("vit_h", "sam", "vit_h", "sam_vit_h_4b8939.pth", "http://127.0.0.1:9/sam_vit_h_4b8939.pth",
                     registry.MASK_MODELS["vit_h"].sha256, "test")
    monkeypatch.setitem(registry.MASK_MODELS, "vit_h", dead)
    with pytest.raises(CheckpointError) as info:
        checkpoints.resolve_checkpoint("vit_h", progress=False)
    message = str(info.value)
    assert "sam_vit_h_4b8939.pth" in message and str(cache) in message and "--checkpoint" in message
    assert not (cache / "sam_vit_h_4b8939.pth").exists()


def test_no_download_flag_and_cli_exit_code(tmp_path, monkeypatch, capsys):
    pytest.importorskip("segment_anything", reason="samcam masks needs the [sam] extra")
    from samcam.cli import main

    monkeypatch.setenv("SAMCAM_CACHE", str(tmp_path / "cache"))
    images = tmp_path / "images"
    images.mkdir()

    Image.new("RGB", (8, 8)).save(images / "a.png")
    code = main(["masks", "--images", str(images), "--out", str(tmp_path / "out"), "--model", "vit_l",
                 "--no-download", "--no-progress", "--device", "cpu"])
    err = capsys.readouterr().err
    assert code != 0
    assert "sam_vit_l_0b3195.pth" in err and str(tmp_path / "cache") in err
    assert not (tmp_path / "out" / "a.masks.npz").exists()


def test_download_without_a_published_hash_checks_completeness_only(server, tmp_path, caplog):
    target = tmp_path / "model.pth"
    with caplog.at_level("WARNING", logger="samcam"):
        assert checkpoints.download(f"{server}/good.pth", target, None, progress=False).read_bytes() == PAYLOAD
    assert PAYLOAD_SHA in caplog.text and "no published SHA-256" in caplog.text
    with pytest.raises(CheckpointError, match="cut short"):
        checkpoints.download(f"{server}/short.pth", tmp_path / "short.pth", None, progress=False)


def test_explicit_checkpoint_must_exist(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.pth"):
        checkpoints.resolve_checkpoint("vit_h", tmp_path / "nope.pth")


def test_official_table():
    for model, info in registry.SAM_MODELS.items():
        assert info.filename.startswith(f"sam_{model}_") and info.url.endswith(info.filename)
        assert len(info.sha256) == 64 and int(info.sha256, 16) >= 0
    assert registry.SAM_MODELS["vit_h"].sha256.startswith("a7bf3b02")
    for info in registry.MASK_MODELS.values():  # every family
        assert info.url.startswith("https://") and info.url.endswith("/" + info.filename)
        assert info.sha256 is None or (len(info.sha256) == 64 and info.sha256 == info.sha256.lower()
                                       and int(info.sha256, 16) >= 0)
        assert info.sha256_source and info.family in registry.FAMILIES


def test_cache_dir_default(monkeypatch, tmp_path):
    monkeypatch.delenv("SAMCAM_CACHE", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert checkpoints.cache_dir() == tmp_path / ".cache" / "samcam"


@pytest.mark.parametrize("name", registry.MODEL_NAMES)
def test_offline_error_names_file_url_and_hash(name, family_images, tmp_path, monkeypatch, capsys):
    need(registry.MASK_MODELS[name].family)
    monkeypatch.setenv("SAMCAM_CACHE", str(tmp_path / "cache"))
    code = main(["masks", "--images", str(family_images), "--out", str(tmp_path / "out"), "--model", name,
                 "--no-download"] + CLI)
    err = capsys.readouterr().err
    info = registry.MASK_MODELS[name]
    assert code == 2
    assert info.filename in err and info.url in err and info.sha256 in err and str(tmp_path / "cache") in err
