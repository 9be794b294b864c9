"""Every bash and Python block of the README and of docs/*.md is tested.

Python blocks run as written on the demo's data. Bash blocks run as written, in order, in one
folder, starting with the README's quick start (`make demo`, whose recipe is read from the
Makefile). A block whose first line is `# (not run on the demo: ...)` needs what a test cannot
have (VOC, weights, GPUs, installs): its samcam commands must parse with samcam's own parser, and
a Python block's imports must resolve. The README stays short, and every link between the pages
points at a file and a heading that exist."""
from __future__ import annotations

import ast
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from samcam.cli import build_parser
from samcam.demo.run import run_demo

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
# The README first: the demo's bash blocks run in this order, later ones using what earlier ones wrote.
DOCS = [README] + sorted((REPO / "docs").glob("*.md"))
# A block that cannot run on the demo (other data, installs, GPUs) says so on its first line.
NOT_FOR_THE_DEMO = "# (not run on the demo: "

pytestmark = pytest.mark.slow  # runs the demo and every block of the pages


def _blocks(language: str):
    """[(page, block)] of every ```language block of the README and docs/*.md, in order."""
    return [(page.relative_to(REPO).as_posix(), block) for page in DOCS
            for block in re.findall(rf"```{language}\n(.*?)```", page.read_text(encoding="utf-8"), flags=re.S)]


def _marked(block: str) -> bool:
    return block.startswith(NOT_FOR_THE_DEMO)


ALL_PY_BLOCKS = _blocks("python")
PY_BLOCKS = [(page, block) for page, block in ALL_PY_BLOCKS if not _marked(block)]
MARKED_PY_BLOCKS = [(page, block) for page, block in ALL_PY_BLOCKS if _marked(block)]
BLOCKS = [block for _, block in PY_BLOCKS]


@pytest.fixture(scope="module")
def demo_root(tmp_path_factory):
    """A folder holding out/demo/ exactly as `make demo` lays it out (fewer images)."""
    root = tmp_path_factory.mktemp("readme")
    run_demo(root / "out" / "demo", num_images=2)
    return root


# --------------------------------------------------------------------------- the pages

def test_docs_are_found():
    pages = {page.name for page in DOCS}
    assert {"README.md", "coco.md", "voc.md", "methods.md", "mask_models.md", "rule.md", "formats.md",
            "failures.md", "plugins.md", "mmseg.md", "contributing.md"} <= pages
    text = README.read_text(encoding="utf-8")
    for page in DOCS[1:]:
        assert f"docs/{page.name}" in text, f"the README links no docs/{page.name}"


def test_readme_is_short_with_contents_and_says_how_to_test():
    text = README.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 300
    contents = text.split("## Contents", 1)[1].split("\n## ", 1)[0]
    for heading in re.findall(r"^## (.+)$", text, flags=re.M):
        if heading != "Contents":
            assert f"(#{_slug(heading)})" in contents, f"the contents lack '{heading}'"
    for target in ("make demo", "make test", "make check", "make test-core", "source .venv/bin/activate"):
        assert target in text, target
    assert "--rule official" in text.split("## Quick start")[0], "the paper's rule is said before the quick start"


def test_the_readme_picture_is_small_and_there():
    picture = re.search(r"!\[[^\]]*\]\(([^)]+)\)", README.read_text(encoding="utf-8")).group(1)
    path = REPO / picture
    assert path.suffix == ".png" and path.is_file() and path.stat().st_size < 150_000


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*]", "", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


# Pages written on another branch: a link to one is checked once the page is there.
ELSEWHERE = {"docs/sam3.md"}


def _links():
    for page in DOCS:
        text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.S)
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if not re.match(r"[a-z]+:", target):
                yield page, target


@pytest.mark.parametrize("page,target", list(_links()), ids=lambda value: getattr(value, "name", value))
def test_links_point_at_pages_and_headings_that_exist(page, target):
    path, _, anchor = target.partition("#")
    file = (page.parent / path).resolve() if path else page
    if not file.exists() and file.relative_to(REPO).as_posix() in ELSEWHERE:
        return
    assert file.exists(), f"{page.name}: {target} points at no file"
    if anchor:
        headings = re.findall(r"^#+ (.+)$", re.sub(r"```.*?```", "", file.read_text(encoding="utf-8"), flags=re.S),
                              flags=re.M)
        assert anchor in {_slug(h) for h in headings}, f"{page.name}: {target}: no such heading in {file.name}"


# ------------------------------------------------------------------------ Python blocks

def test_readme_has_python_blocks():
    assert len(BLOCKS) >= 3
    assert "label_from_cams" in BLOCKS[0] and "SamAutomaticMaskGenerator" in BLOCKS[0], \
        "the README's first Python block is the in-memory loop"


@pytest.mark.parametrize("index", range(len(BLOCKS)),
                         ids=[f"{page}-block{i}" for i, (page, _) in enumerate(PY_BLOCKS)])
def test_readme_python_block_runs(index, demo_root, monkeypatch):
    page, code = PY_BLOCKS[index]
    monkeypatch.chdir(demo_root)
    if "load_sam" in code or "segment_anything" in code:
        # No SAM weights here: a tiny random-weight SAM stands in under the official file name.
        pytest.importorskip("segment_anything", reason="the SAM block needs the [sam] extra")
        from tiny_sam import save_tiny_checkpoint

        checkpoint = demo_root / "sam_vit_h_4b8939.pth"
        if not checkpoint.exists():
            save_tiny_checkpoint(checkpoint)
    if "load_generator" in code:
        # A tiny random-weight HQ-SAM stands in under the official file name.
        pytest.importorskip("segment_anything_hq", reason="the HQ-SAM block needs the [hq] extra")
        from tiny_models import save, tiny_hq

        checkpoint = demo_root / "sam_hq_vit_h.pth"
        if not checkpoint.exists():
            save(tiny_hq(), checkpoint)
    if "samcam.datasets.coco" in code:
        pytest.importorskip("pycocotools", reason='the COCO block needs pycocotools: pip install "samcam[coco]"')
    namespace = {"__name__": "__readme__"}
    exec(compile(code, f"{page} python block {index}", "exec"), namespace)
    if index == 0:  # the README's loop: segment-anything's own dicts, refined as they come
        refined, label, masks = namespace["refined"], namespace["label"], namespace["masks"]
        assert isinstance(masks, list) and refined.shape == label.shape and refined.dtype == label.dtype


@pytest.mark.parametrize("index", range(len(MARKED_PY_BLOCKS)),
                         ids=[f"{page}-marked{i}" for i, (page, _) in enumerate(MARKED_PY_BLOCKS)])
def test_marked_python_block_compiles_and_its_imports_resolve(index):
    page, code = MARKED_PY_BLOCKS[index]
    tree = ast.parse(code, f"{page} marked python block {index}")
    imports = ast.Module(body=[node for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))],
                         type_ignores=[])
    assert imports.body, f"{page}: a marked block without imports has nothing to check"
    exec(compile(imports, f"{page} marked python block {index} (imports)", "exec"), {"__name__": "__readme__"})


# -------------------------------------------------------------------------- bash blocks

PAGE_BASH_BLOCKS = _blocks("bash")
BASH_BLOCKS = [block for _, block in PAGE_BASH_BLOCKS]
DEMO_BLOCKS = [block for block in BASH_BLOCKS if not _marked(block)]
QUICK_START = ["make demo", "source .venv/bin/activate"]


def test_readme_bash_blocks_are_marked_or_run_on_the_demo():
    """Every bash block is either for the demo (and run below) or says why it is not; the
    quick start reads clean: its blocks carry no marker."""
    assert len(DEMO_BLOCKS) >= 10
    for page, block in PAGE_BASH_BLOCKS:
        first = block.splitlines()[0]
        if first.startswith("# (not run"):
            assert _marked(block) and first.endswith(")") and len(first) > len(NOT_FOR_THE_DEMO) + 3, \
                f"{page}: {first}"
        else:
            assert "VOC2012" not in block and "sam_masks" not in block and "coco2014" not in block, \
                f"{page}: a demo block names other data:\n{block}"
    readme_blocks = [block for page, block in PAGE_BASH_BLOCKS if page == "README.md"]
    assert [line.split("#")[0].strip() for line in readme_blocks[0].splitlines()] == QUICK_START
    assert not any(_marked(block) for block in readme_blocks), "the README's blocks all run"


def _make_demo_recipe() -> str:
    """The last command `make demo` runs, read from the Makefile (a dry run)."""
    # Under `make test` the parent make's MAKEFLAGS/MAKELEVEL make a child print "make[1]: ..."
    # directory lines; the recipe is read as a top-level make would run it.
    env = {key: value for key, value in os.environ.items() if key not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")}
    result = subprocess.run(["make", "--no-print-directory", "-n", "demo"], cwd=REPO, env=env,
                            capture_output=True, text=True, check=True)
    return result.stdout.strip().splitlines()[-1]


def test_make_demo_runs_samcam_demo_into_out_demo():
    """What the README's blocks and docs/ take for granted: `make demo` writes out/demo/ with
    the venv's samcam, so `source .venv/bin/activate` puts that samcam on PATH."""
    assert _make_demo_recipe() == ".venv/bin/samcam demo --out out/demo"
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"^VENV := \.venv$", makefile, flags=re.M) and "-m venv $(VENV)" in makefile


def _shims(folder: Path, work: Path) -> dict:
    """PATH with `samcam` and `samcam-adapt` running this checkout's samcam in this Python, a
    `.venv/bin` in the work folder as `make demo` leaves it (console scripts and `activate`), and a
    `make` that runs `make demo`'s recipe there (it refuses any other target)."""
    venv_bin = work / ".venv" / "bin"
    for where in (folder, venv_bin):
        where.mkdir(parents=True, exist_ok=True)
        for name, args in (("samcam", ""), ("samcam-adapt", " adapt")):
            script = where / name
            script.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m samcam{args} "$@"\n')
            script.chmod(0o755)
    (venv_bin / "activate").write_text(f'export PATH="{venv_bin}:$PATH"\n')
    make = folder / "make"
    make.write_text('#!/bin/sh\n[ "$*" = demo ] || { echo "the README test stands in for make demo only" >&2; exit 2; }\n'
                    f"exec {_make_demo_recipe()}\n")
    make.chmod(0o755)
    env = dict(os.environ)
    env["PATH"] = f"{folder}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = os.pathsep.join([str(REPO)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    return env


def test_readme_bash_blocks_run_on_the_demo_as_written(tmp_path):
    """The demo commands of the README and docs/, in order, in one folder (later blocks use what
    earlier ones wrote); any command that fails fails the test, naming its block."""
    work = tmp_path / "work"
    work.mkdir()
    env = _shims(tmp_path / "bin", work)
    for index, block in enumerate(DEMO_BLOCKS):
        script = tmp_path / f"block{index}.sh"
        script.write_text("set -euo pipefail\n" + block)
        result = subprocess.run(["bash", str(script)], cwd=work, env=env, capture_output=True, text=True, timeout=900)
        assert result.returncode == 0, (
            f"bash block {index} failed (exit {result.returncode}):\n{block}\n"
            f"--- stderr ---\n{result.stderr[-4000:]}\n--- stdout ---\n{result.stdout[-2000:]}"
        )
    # what the pages promise exists
    assert len(list((work / "out" / "demo" / "cam_label").glob("*.png"))) == 40
    assert (work / "out" / "refined" / "samcam.json").is_file()
    assert (work / "out" / "report" / "index.html").is_file()
    assert (work / "out" / "deeplab_demo.py").is_file()
    assert len(list((work / "out" / "vis_best").glob("*.png"))) == 5
    assert not (work / "out" / "swapped").exists()  # the refused run wrote nothing
    record = json.loads((work / "out" / "resumed" / "samcam.json").read_text(encoding="utf-8"))
    assert record["settings"]["refine"]["rule"] == "samcam" and len(record["runs"]) == 2  # resumed; the other rule refused


def _samcam_commands(block: str):
    """The samcam / samcam-adapt command lines of a bash block (continuations joined), as argv
    for samcam's parser; `python -m samcam` and `torchrun ... -m samcam` lines included."""
    for line in block.replace("\\\n", " ").splitlines():
        words = shlex.split(line, comments=True)
        if words and words[0] == "samcam-adapt":
            yield ["adapt"] + words[1:]
        elif words and words[0] == "samcam":
            yield words[1:]
        elif "-m" in words and words[words.index("-m") + 1:words.index("-m") + 2] == ["samcam"]:
            yield words[words.index("-m") + 2:]


MARKED_COMMANDS = [(page, argv) for page, block in PAGE_BASH_BLOCKS if _marked(block)
                   for argv in _samcam_commands(block)]


def test_marked_blocks_show_samcam_commands():
    assert len(MARKED_COMMANDS) >= 30
    assert {page for page, _ in MARKED_COMMANDS} >= {"docs/voc.md", "docs/methods.md", "docs/mask_models.md"}


def _as_if_the_example_plugin_were_installed(monkeypatch):
    """docs/plugins.md's commands use examples/plugin's method and rule, which `pip install
    ./examples/plugin` would bring: register the same objects for this test only."""
    from samcam.adapters import METHODS
    from samcam.rules import RULES

    monkeypatch.syspath_prepend(str(REPO / "examples" / "plugin"))
    from samcam_mycam.method import ADAPTER
    from samcam_mycam.rule import RULE

    for registry, name, value in ((METHODS, "mycam", ADAPTER), (RULES, "majority", RULE)):
        registry.builtins()  # load the built-in ones first, so the stand-in is added to them
        monkeypatch.setitem(registry._builtins, name, value)


@pytest.mark.parametrize("page,argv", MARKED_COMMANDS, ids=[f"{p}:{' '.join(a[:2])}" for p, a in MARKED_COMMANDS])
def test_marked_samcam_commands_parse(page, argv, capsys, monkeypatch):
    if page == "docs/plugins.md":
        _as_if_the_example_plugin_were_installed(monkeypatch)
    parser = build_parser(adapt_prog="samcam-adapt")
    try:
        _, extras = parser.parse_known_args(argv)
    except SystemExit as done:  # a listing (`samcam-adapt --method` alone) prints and exits 0 while parsing
        assert done.code in (0, None), f"{page}: samcam {' '.join(argv)} does not parse: {capsys.readouterr().err}"
        return
    assert not extras, (page, argv, extras)
